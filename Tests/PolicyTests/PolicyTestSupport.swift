import Foundation
import WardenTestSupport
@testable import Policy

enum Example {
    static let directory = TestCheckout.path("policies/example")
    static let policy: SitePolicy = try! PolicyLoader().load(directory: directory)
    static let engine = PolicyEngine(policy: policy)
    static let berlin = TimeZone(identifier: "Europe/Berlin")!
}

/// "2026-12-01 09:00" on the site's clock (Europe/Berlin).
func t(_ s: String, _ tz: TimeZone = Example.berlin) -> Date {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = tz
    f.dateFormat = s.count > 16 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm"
    return f.date(from: s)!
}

func person(_ id: Int64, _ groups: Set<String>, active: Bool = true, from: Date? = nil, until: Date? = nil) -> PersonFacts {
    PersonFacts(id: id, name: "P\(id)", groups: groups, active: active, validFrom: from, validUntil: until)
}

let staff = person(1, ["staff"])
let admin = person(2, ["it-admins"])
let admin2 = person(3, ["it-admins"])
let visitor = person(4, ["visitors"])
let guardP = person(5, ["security"])

/// `liveness`: what PAD said of the face (default: live when a face succeeded).
func ask(_ door: String, _ when: Date, _ who: PersonFacts?, _ ok: Set<Factor>, failed: Set<Factor> = [], badge: AccessRequest.BadgeFact = .valid,
         state: SiteState = SiteState(), engine: PolicyEngine = Example.engine, liveness: LivenessFact? = nil) -> Decision {
    engine.decide(AccessRequest(door: door, time: when, person: who, badge: badge, succeeded: ok, failed: failed,
                                liveness: liveness ?? (ok.contains(.face) ? .live : .notChecked)), state: state)
}
