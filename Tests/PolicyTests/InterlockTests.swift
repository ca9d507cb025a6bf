import Foundation
import Testing
@testable import Policy

/// Interlocks (mantraps): a door of a group releases only while every other door of it is
/// locked and closed.
@Suite("interlocks")
struct InterlockTests {
    static let yaml = """
    site: {name: Vestibule, timezone: UTC}
    zones: [{id: lab}]
    doors:
      - {id: outer, into: lab, factors: badge, exit_route: true}
      - {id: inner, into: lab, factors: badge}
      - {id: side, into: lab, factors: badge}
    groups: [{id: staff}]
    grants: [{id: staff-lab, to: "group:staff", zone: lab}]
    interlocks:
      - {id: vestibule, doors: [outer, inner]}
    """

    static func load(_ yaml: String = yaml) throws -> SitePolicy { try PolicyLoader().load(sources: [("site.yaml", yaml)]) }

    static func state(_ doors: [String: DoorNow]) -> SiteState {
        var s = SiteState()
        s.doorsNow = doors
        return s
    }
    static let shut = DoorNow(lockReleased: false, open: false)
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let ana = PersonFacts(id: 1, name: "Ana", groups: ["staff"], validFrom: nil, validUntil: nil)

    func badge(_ door: String, _ engine: PolicyEngine, _ state: SiteState) -> Decision {
        engine.decide(AccessRequest(door: door, time: Self.t0, person: Self.ana, badge: .valid, succeeded: [.badge]), state: state)
    }

    @Test func aDoorReleasesOnlyWhileTheOthersAreShut() throws {
        let engine = PolicyEngine(policy: try Self.load())
        #expect(badge("inner", engine, Self.state(["outer": Self.shut, "inner": Self.shut])).allow)
        for other in [DoorNow(lockReleased: true, open: false), DoorNow(lockReleased: false, open: true)] {
            let d = badge("inner", engine, Self.state(["outer": other, "inner": Self.shut]))
            #expect(!d.allow && d.reasons == [.interlock] && d.rule == "interlock:vestibule" && d.changes.isEmpty)
            #expect(d.explanation.last?.contains("door outer is \(other.open ? "open" : "released")") == true, "\(d.explanation)")
        }
        // A door not known to be shut (out of service, or on another board) holds the group.
        let unknown = badge("inner", engine, Self.state(["inner": Self.shut]))
        #expect(!unknown.allow && unknown.explanation.last?.contains("not known to be shut") == true)
        // A door in no interlock is not held by one.
        #expect(badge("side", engine, Self.state([:])).allow)
        // A denial on the policy's own grounds keeps its reason.
        let stranger = engine.decide(AccessRequest(door: "inner", time: Self.t0, person: nil, badge: .unknown, succeeded: []),
                                     state: Self.state(["outer": DoorNow(lockReleased: true, open: true)]))
        #expect(stranger.reasons != [.interlock])
    }

    @Test func exitButtonsWaitUnlessTheDoorIsAnEscapeRoute() throws {
        let engine = PolicyEngine(policy: try Self.load())
        let innerOpen = Self.state(["outer": Self.shut, "inner": DoorNow(lockReleased: true, open: true)])
        let outerOpen = Self.state(["outer": DoorNow(lockReleased: true, open: true), "inner": Self.shut])
        #expect(engine.exitRefusal(door: "outer", state: innerOpen) == nil, "outer is the escape route")
        #expect(engine.exitRefusal(door: "inner", state: outerOpen) == "interlock vestibule: door outer is open")
        #expect(engine.exitRefusal(door: "inner", state: Self.state(["outer": Self.shut, "inner": Self.shut])) == nil)
    }

    /// A remote release is a release like any other.
    @Test func aRemoteReleaseIsInterlockedToo() throws {
        var yaml = Self.yaml.replacingOccurrences(of: "{id: inner, into: lab, factors: badge}", with: "{id: inner, into: lab, factors: badge, remote: {release: true}}")
        yaml += "\n"
        let engine = PolicyEngine(policy: try Self.load(yaml))
        let d = engine.decide(RemoteRequest(door: "inner", time: Self.t0, action: .release, requester: "ha"),
                              state: Self.state(["outer": DoorNow(lockReleased: false, open: true), "inner": Self.shut]))
        #expect(!d.allow && d.reasons == [.interlock])
    }

    @Test func aFireAlarmStillReleasesFailSafeDoors() throws {
        let yaml = Self.yaml.replacingOccurrences(of: "{id: outer, into: lab, factors: badge, exit_route: true}",
                                                  with: "{id: outer, into: lab, factors: badge, exit_route: true, fail_mode: safe}")
        let engine = PolicyEngine(policy: try Self.load(yaml))
        var s = Self.state(["inner": DoorNow(lockReleased: true, open: true)])
        s.fireAlarm = true
        let d = badge("outer", engine, s)
        #expect(d.allow && d.reasons == [.emergencyRelease])
    }

    @Test func explanationsAssumeEveryDoorShut() throws {
        let policy = try Self.load()
        #expect(badge("inner", PolicyEngine(policy: policy), SiteState.everyDoorShut(policy)).allow)
    }

    @Test(arguments: [
        ("[{id: a, doors: [outer]}]", "needs 2 to 4 different doors"),
        ("[{id: a, doors: [outer, outer]}]", "needs 2 to 4 different doors"),
        ("[{id: a, doors: [outer, inner, side, d4, d5]}]", "needs 2 to 4 different doors"),
        ("[{id: a, doors: [outer, nowhere]}]", "door 'nowhere' is not defined"),
        ("[{id: a, doors: [outer, inner]}, {id: b, doors: [inner, side]}]", "door 'inner' is in interlock 'a' already"),
        ("[{id: a, doors: [outer, inner], mode: strict}]", "mode"),
    ])
    func badInterlocksAreRefusedWithTheirPlace(interlocks: String, expected: String) {
        let yaml = Self.yaml.replacingOccurrences(of: "interlocks:\n  - {id: vestibule, doors: [outer, inner]}", with: "interlocks: \(interlocks)")
        #expect {
            _ = try Self.load(yaml)
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".contains("site.yaml:")
        }
    }

    @Test func exitRouteMustBeABoolean() {
        let yaml = Self.yaml.replacingOccurrences(of: "exit_route: true", with: "exit_route: sometimes")
        #expect { _ = try Self.load(yaml) } throws: { "\($0)".contains("exit_route must be true or false") }
    }
}
