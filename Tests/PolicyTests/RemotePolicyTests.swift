import Foundation
import Testing
@testable import Policy

/// Remote commands through the policy engine: a release is the `remote` factor alone, under
/// every mode check a person's request meets; a lockdown changes the door's mode; a door
/// accepts neither unless its `remote:` says so.
struct RemotePolicyTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let policy = try! PolicyLoader().load(sources: [("site.yaml", """
    site: {name: T, timezone: UTC}
    zones: [{id: building}]
    schedules:
      - {id: office-hours, windows: [{days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}]}
    groups: [{id: security}]
    threat_levels: [{level: 1, name: elevated, allowed_groups: [security]}]
    doors:
      - {id: front, into: building, factors: badge, strike_time: 4s, remote: {release: true, lockdown: true}}
      - {id: dock, into: building, factors: badge, remote: {release: true, schedule: office-hours}}
      - {id: fire-exit, into: building, factors: badge, fail_mode: safe, remote: {release: true}}
      - {id: plain, into: building, factors: face}
    grants: [{id: sec, to: "group:security", zone: building}]
    """)])
    let engine = PolicyEngine(policy: Self.policy)
    let tuesday10 = t("2026-12-01 10:00", Self.utc), tuesday22 = t("2026-12-01 22:00", Self.utc)

    func remote(_ door: String, _ action: RemoteRequest.Action = .release, at: Date? = nil, state: SiteState = SiteState()) -> Decision {
        engine.decide(RemoteRequest(door: door, time: at ?? tuesday10, action: action, requester: "ana@ha"), state: state)
    }

    @Test func aReleaseIsGrantedOnlyWhereTheDoorAcceptsIt() {
        let ok = remote("front")
        #expect(ok.allow && ok.reasons == [.remoteRelease] && ok.rule == "remote:front" && ok.action == .release(seconds: 4))
        let plain = remote("plain")
        #expect(!plain.allow && plain.reasons == [.remoteNotAllowed] && plain.action == .stayLocked)
        #expect(remote("nowhere").reasons == [.unknownDoor])
        // The door's remote schedule.
        #expect(remote("dock").allow)
        let late = remote("dock", at: tuesday22)
        #expect(!late.allow && late.reasons == [.remoteOutsideSchedule], "\(late.explanation)")
        // A lockdown-only door does not release.
        #expect(!remote("plain", .lockdown).allow)
    }

    @Test func theModesComeFirst() {
        var locked = SiteState()
        locked.doorModes["front"] = .locked
        let d = remote("front", state: locked)
        #expect(!d.allow && d.reasons == [.lockdown], "a remote release never opens a locked-down door")
        var threat = SiteState()
        threat.threatLevel = 1
        #expect(remote("front", state: threat).reasons == [.lockdown], "nor one at a raised threat level")
        var fire = SiteState()
        fire.fireAlarm = true
        let f = remote("fire-exit", state: fire)
        #expect(f.allow && f.action == .alreadyReleased)
    }

    @Test func aRemoteFactorIsNeverPartOfAPersonsRequest() {
        let mixed = engine.decide(AccessRequest(door: "front", time: tuesday10, person: PersonFacts(id: 1, name: "A", groups: ["security"]),
                                                badge: .valid, succeeded: [.badge, .remote]), state: SiteState())
        #expect(!mixed.allow && mixed.reasons == [.remoteNotAllowed])
    }

    @Test func lockdownChangesTheModeAndClearingRestoresIt() {
        let down = remote("front", .lockdown)
        #expect(down.allow && down.reasons == [.remoteLockdown] && down.changes == [.doorMode(door: "front", .locked)])
        var state = SiteState()
        state.apply(down.changes)
        #expect(engine.effectiveMode(door: Self.policy.doors["front"]!, at: tuesday10, state: state) == .locked)
        // Only the highest threat level's groups pass a locked-down door.
        let sec = engine.decide(AccessRequest(door: "front", time: tuesday10, person: PersonFacts(id: 1, name: "A", groups: ["security"]), badge: .valid,
                                              succeeded: [.badge]), state: state)
        #expect(sec.allow)
        let clear = remote("front", .clearLockdown, state: state)
        #expect(clear.allow && clear.changes == [.doorMode(door: "front", .normal)])
        state.apply(clear.changes)
        #expect(state.doorModes["front"] == nil && remote("front", state: state).allow)
        // Clearing a door that is not locked down changes nothing.
        #expect(remote("front", .clearLockdown).changes.isEmpty)
        // A door without remote.lockdown refuses both.
        #expect(remote("dock", .lockdown).reasons == [.remoteNotAllowed] && remote("dock", .clearLockdown).reasons == [.remoteNotAllowed])
    }

    @Test func theLoaderChecksRemote() {
        func issues(_ remote: String) -> [String] {
            do {
                _ = try PolicyLoader().load(sources: [("d.yaml", """
                site: {name: T, timezone: UTC}
                zones: [{id: a}]
                schedules: [{id: s, windows: [{days: all, from: "00:00", to: "24:00"}]}]
                doors:
                  - {id: d, into: a, factors: badge, remote: \(remote)}
                """)])
                return []
            } catch { return error.issues.map(\.message) }
        }
        #expect(issues("{release: true, lockdown: false, schedule: s}") == [])
        #expect(issues("{release: yes-please}").contains { $0.contains("remote.release must be true or false") })
        #expect(issues("{unlock: true}").contains { $0.contains("unlock") })
        #expect(issues("{release: true, schedule: nope}").contains { $0.contains("nope") })
        #expect(issues("{lockdown: true, schedule: s}").contains { $0.contains("needs remote.release: true") })
        #expect(Self.policy.doors["plain"]!.remote == .none)
    }
}
