import Foundation
import Testing
import WardenCore
@testable import Policy

typealias Rng = SplitMix64
extension SplitMix64 { init(s: UInt64) { self.init(seed: s) } }

@Suite("Policy safety property")
struct PropertyTests {
    /// Coverage computed independently of the engine: walk up from the zone; a grant zone
    /// covers it if it is an ancestor-or-self and at least as sensitive.
    func independentlyCovered(_ p: SitePolicy, person: PersonFacts, zone: String, at time: Date) -> Bool {
        var ancestors: [String] = []
        var z: String? = zone
        while let cur = z, !ancestors.contains(cur) { ancestors.append(cur); z = p.zones[cur]?.parent }
        return p.grants.contains { g in
            let subjectOK: Bool
            switch g.subject {
            case .person(let id): subjectOK = id == person.id
            case .group(let name): subjectOK = person.groups.contains(name)
            }
            guard subjectOK, ancestors.contains(g.zone), p.zones[zone]!.sensitivity <= p.zones[g.zone]!.sensitivity else { return false }
            if let u = g.until, time >= u { return false }
            if let s = g.schedule { return p.schedules[s]!.isActive(at: time, in: p.timeZone, calendars: p.holidays) }
            return true
        }
    }

    /// Whatever happens, in whatever order, nobody is let into a zone without a grant that
    /// covers it at that moment, except through a door that stands open by mode (fire
    /// alarm on a fail-safe door, or free access), which lets anyone through by design.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func nobodyEntersWithoutACoveringGrant(seed: UInt64) {
        var rng = Rng(s: seed)
        var p = Example.policy
        // Extra grants to individuals, some expiring inside the test period.
        p.grants.append(Grant(id: "p8-office", subject: .person(8), zone: "office-floor", schedule: "business-hours", until: t("2026-12-10 00:00")))
        p.grants.append(Grant(id: "p9-server", subject: .person(9), zone: "server-room", schedule: "after-hours"))
        let engine = PolicyEngine(policy: p)
        let groupChoices: [Set<String>] = [[], ["staff"], ["it-admins"], ["visitors"], ["security"], ["staff", "visitors"], ["it-admins", "security"]]
        let people = (1...10).map { id in
            PersonFacts(id: Int64(id), name: "P\(id)", groups: groupChoices.randomElement(using: &rng)!, active: Int.random(in: 0..<10, using: &rng) > 0,
                        validFrom: nil, validUntil: Bool.random(using: &rng) ? t("2026-12-20 00:00") : nil)
        }
        let doors = Array(p.doors.keys).sorted()
        var state = SiteState()
        var time = t("2026-12-01 00:00")
        var allowed = 0, modeAllowed = 0, denied = 0
        for _ in 0..<3000 {
            time = time.addingTimeInterval(Double(Int.random(in: 1...3600, using: &rng)))
            switch Int.random(in: 0..<40, using: &rng) {
            case 0: state.threatLevel = Int.random(in: 0...2, using: &rng)
            case 1: state.fireAlarm.toggle()
            case 2: state.doorModes[doors.randomElement(using: &rng)!] = [.normal, .locked, .unlocked].randomElement(using: &rng)!
            default: break
            }
            let who: PersonFacts? = Int.random(in: 0..<8, using: &rng) == 0 ? nil : people.randomElement(using: &rng)!
            let ok = Set([Factor.badge, .face].filter { _ in Bool.random(using: &rng) })
            let failed: Set<Factor> = ok.contains(.face) || Bool.random(using: &rng) ? [] : [.face]
            let badge: AccessRequest.BadgeFact = [.valid, .valid, .valid, .none, .unknown, .revoked].randomElement(using: &rng)!
            let door = doors.randomElement(using: &rng)!
            let liveness: LivenessFact = ok.contains(.face) || !failed.isEmpty
                ? [.live, .live, .attack, .unsure, .unavailable, .notChecked].randomElement(using: &rng)! : .notChecked
            let d = engine.decide(AccessRequest(door: door, time: time, person: who, badge: badge, succeeded: ok, failed: failed, liveness: liveness), state: state)
            let zone = p.doors[door]!.into
            if d.allow {
                let mode = engine.effectiveMode(door: p.doors[door]!, at: time, state: state)
                if d.rule.hasPrefix("grant:") {
                    allowed += 1
                    let person = who!
                    let covered = independentlyCovered(p, person: person, zone: zone, at: time)
                    #expect(covered, "allowed #\(person.id) \(person.groups.sorted()) into \(zone) at \(time) by \(d.rule)")
                    #expect(person.active && (person.validUntil.map { time < $0 } ?? true))
                    #expect(badge != .revoked)
                    // Liveness: an attack never passes; where it is required, a face counts
                    // only when live, and without a PAD model a badge fallback stands in.
                    let required = engine.liveness(for: p.doors[door]!, at: time) == .required
                    let outOfService = required && liveness == .unavailable
                    #expect(liveness != .attack, "allowed a presentation attack by \(d.rule)")
                    #expect(engine.factors(for: p.doors[door]!, at: time, cameraFault: outOfService).missing(given: ok).isEmpty)
                    if required && ok.contains(.face) && !outOfService { #expect(liveness == .live, "allowed a face with liveness \(liveness) by \(d.rule)") }
                } else {
                    modeAllowed += 1
                    #expect(mode == .emergencyRelease || mode == .unlocked, "allowed by \(d.rule) with the door in mode \(mode)")
                    #expect(d.action == .alreadyReleased)
                }
            } else {
                denied += 1
                #expect(d.action == .stayLocked && !d.reasons.isEmpty)
            }
            state.apply(d.changes)
        }
        // The walk exercised both outcomes.
        #expect(allowed > 20 && denied > 200)
    }
}
