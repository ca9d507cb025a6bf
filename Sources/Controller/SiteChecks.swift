import DoorIO
import Foundation
import Policy

extension SiteConfig {
    /// What would let the site start but not work as its files mean, in words a person can
    /// act on: a door that needs a face and has no camera (every badge there would wait for
    /// a face that cannot come), and a camera device that is not there now (it may be
    /// plugged in later, so it does not stop the start). `warden run` prints these at start,
    /// and `warden run --check` lists them. With the pin map: a door the policy and the
    /// wiring disagree on (fail-safe against fail-secure) stays out of service.
    public func warnings(against policy: SitePolicy, pinMap: PinMap? = nil,
                         deviceExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) -> [String] {
        var out: [String] = []
        for id in doors.keys.sorted() {
            guard let door = policy.doors[id], let config = doors[id] else { continue }
            if let pins = pinMap?.doors[id], pins.failMode.rawValue != door.failMode.rawValue {
                out.append("door \(id) would stay out of service: the policy says fail-\(door.failMode.rawValue) but the pin map wires it "
                           + "fail-\(pins.failMode.rawValue); fix one of them")
            }
            let needsFace = ([(nil, door.factors)] + door.factorSchedule.map { ($0.schedule as String?, $0.factors) })
                .filter { $0.1 == .face || $0.1 == .badgeAndFace }
            if config.camera == nil, let first = needsFace.first {
                let when = first.0.map { " during \($0)" } ?? ""
                out.append("door \(id) needs a face (\(first.1.rawValue)\(when)) but has no camera in \(file): "
                           + "no one can pass it that way; add `camera:` under doors.\(id)")
            }
            if case .device(let path)? = config.camera?.kind, !deviceExists(path) {
                out.append("door \(id): camera device \(path) does not exist now (is it plugged in, and its driver loaded? `warden camera list` shows the devices); "
                           + "the door starts and waits for it")
            }
        }
        // An interlock holds a door until every other door of its group is known to be shut;
        // a door on another controller (or not run at all) never is.
        for group in policy.interlocks {
            let here = group.doors.filter { doors[$0] != nil }, elsewhere = group.doors.filter { doors[$0] == nil }
            guard !here.isEmpty, !elsewhere.isEmpty else { continue }
            out.append("interlock \(group.id): door\(elsewhere.count == 1 ? "" : "s") \(elsewhere.joined(separator: ", ")) \(elsewhere.count == 1 ? "is" : "are") not run by \(file), "
                       + "so \(here.joined(separator: ", ")) will never release (fail secure); an interlock's doors must all be on one controller")
        }
        return out
    }
}
