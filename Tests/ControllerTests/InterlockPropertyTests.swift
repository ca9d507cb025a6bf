import DoorIO
import Foundation
import Policy
import Testing
import WardenCore

/// The interlock invariant, on the real door state machines and the real policy engine, in
/// random order: badges, exit buttons, doors opened (with a grant or forced), closed, time
/// passing, the fire alarm. Never are two doors of the group released at once, except by
/// the fire alarm's release of a fail-safe door. (An escape route's exit button is the other
/// exception, by the site's choice: `InterlockFlowTests` and the policy tests cover it.)
@Suite("interlock invariant")
struct InterlockPropertyTests {
    static let policy = try! PolicyLoader().load(sources: [("site.yaml", """
    site: {name: Airlock, timezone: UTC}
    zones: [{id: lab}]
    doors:
      - {id: a, into: lab, factors: badge, fail_mode: safe}
      - {id: b, into: lab, factors: badge}
      - {id: c, into: lab, factors: badge, remote: {release: true}}
    groups: [{id: staff}]
    grants: [{id: staff-lab, to: "group:staff", zone: lab}]
    interlocks: [{id: airlock, doors: [a, b, c]}]
    """)])

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func neverTwoDoorsOfTheGroupReleasedAtOnce(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let engine = PolicyEngine(policy: Self.policy)
        let doors = ["a", "b", "c"]
        var machines = Dictionary(uniqueKeysWithValues: doors.map { id in
            (id, DoorStateMachine(behaviour: DoorBehaviour(strikeTime: 3, heldOpenTime: 30, failMode: Self.policy.doors[id]!.failMode == .safe ? .safe : .secure)))
        })
        var state = SiteState()
        var time = Date(timeIntervalSince1970: 1_800_000_000)
        let ana = PersonFacts(id: 1, name: "Ana", groups: ["staff"], validFrom: nil, validUntil: nil)
        // Doors the fire alarm released: the invariant resumes once each has relocked.
        var releasedByFire = Set<String>()
        var grants = 0, refused = 0, exitsRefused = 0, violation: String? = nil
        func publish() { for (id, m) in machines { state.doorsNow[id] = DoorNow(lockReleased: m.lockReleased, open: m.contactOpen) } }
        func syncModes() {
            for id in doors {
                let mode: DoorHardwareMode = engine.effectiveMode(door: Self.policy.doors[id]!, at: time, state: state) == .emergencyRelease ? .emergencyRelease : .normal
                _ = machines[id]!.handle(.mode(mode), at: time)
            }
        }
        publish()
        for step in 0..<4000 {
            time = time.addingTimeInterval(Double(Int.random(in: 1...40, using: &rng)) / 10)
            for id in doors { _ = machines[id]!.handle(.tick, at: time) }
            publish()
            let id = doors.randomElement(using: &rng)!
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<35:
                let d = engine.decide(AccessRequest(door: id, time: time, person: ana, badge: .valid, succeeded: [.badge]), state: state)
                state.apply(d.changes)
                if d.allow, case .release(let s) = d.action { _ = machines[id]!.handle(.grant(strikeTime: s), at: time); grants += 1 }
                if d.reasons == [.interlock] { refused += 1 }
            case 35..<40:
                let d = engine.decide(RemoteRequest(door: id, time: time, action: .release, requester: "test"), state: state)
                if d.allow, case .release(let s) = d.action { _ = machines[id]!.handle(.grant(strikeTime: s), at: time) }
            case 40..<55:
                if engine.exitRefusal(door: id, state: state) == nil { _ = machines[id]!.handle(.requestToExit, at: time) } else { exitsRefused += 1 }
            case 55..<75:
                // Opened after a release, or (rarely) forced.
                if machines[id]!.lockReleased || Int.random(in: 0..<10, using: &rng) == 0 { _ = machines[id]!.handle(.contact(open: true), at: time) }
            case 75..<97:
                _ = machines[id]!.handle(.contact(open: false), at: time)
            default:
                state.fireAlarm.toggle()
                syncModes()
                if state.fireAlarm { releasedByFire.formUnion(doors.filter { machines[$0]!.lockReleased }) }
            }
            publish()
            releasedByFire = releasedByFire.filter { machines[$0]!.lockReleased }
            let released = doors.filter { machines[$0]!.lockReleased }
            if !state.fireAlarm, releasedByFire.isEmpty, released.count > 1, violation == nil {
                violation = "step \(step): \(released.joined(separator: " and ")) released at once"
            }
        }
        #expect(violation == nil, "\(violation ?? "")")
        // The walk exercised both sides of the rule.
        #expect(grants > 100 && refused > 100 && exitsRefused > 10, "grants \(grants), refused \(refused), exits refused \(exitsRefused)")
    }
}
