import Audit
import Controller
import DoorIO
import FaceKit
import Foundation
import Policy
import Testing
import WardenCore

/// An airlock on simulated hardware: the lobby (fail-safe, an escape route) and the server
/// room in one interlock, through the whole door loop.
@Suite("interlock at the doors", .serialized, .enabled(if: Paths.haveFixtures, "needs the fixtures and models from `make setup`"))
struct InterlockFlowTests {
    static let yaml = """
    site: {name: Airlock, timezone: Europe/Berlin}
    zones: [{id: building}, {id: secure, parent: building}]
    doors:
      - {id: lobby, into: building, factors: badge, fail_mode: safe, exit_route: true}
      - {id: server-room, into: secure, from: building, factors: badge, strike_time: 3s}
    groups: [{id: staff}]
    grants: [{id: staff-building, to: "group:staff", zone: building}, {id: staff-secure, to: "group:staff", zone: secure}]
    interlocks: [{id: airlock, doors: [lobby, server-room]}]
    """

    @Test func oneDoorOfTheAirlockAtATime() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("warden-airlock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: home) }
        let policy = try PolicyLoader().load(sources: [("site.yaml", Self.yaml)])
        let pins = try PinMap.load(path: Paths.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        let s = try SimulatedSite(home: home, policy: policy, pinMap: pins, models: ModelSet(directory: Paths.root.appendingPathComponent("models").path),
                                  start: Rig.time("10:00"))
        try s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["staff"], badge: "12:1001")
        func decisions() throws -> [AuditEvent] {
            s.audit.flush()
            var out: [AuditEvent] = []
            try s.auditStore.forEachRow { _, e in if e.kind == .decision { out.append(e) } }
            return out
        }
        let serverRoomReleases = { s.relayHistory("server-room").filter(\.high).count }

        // In through the lobby: while it is released, the server room refuses the badge.
        try s.swipe("lobby", badge: "12:1001")
        try s.swipe("server-room", badge: "12:1001")
        var d = try decisions()
        #expect(d.map(\.type) == ["access.granted", "access.denied"])
        #expect(d.last?.reasons == ["interlock"] && d.last?.rule == "interlock:airlock")
        #expect(serverRoomReleases() == 0)
        // Through, and the lobby shut behind: now the server room opens.
        try s.setContact("lobby", open: true)
        try s.setContact("lobby", open: false)
        try s.swipe("server-room", badge: "12:1001")
        d = try decisions()
        #expect(d.last?.type == "access.granted" && serverRoomReleases() == 1)
        try s.setContact("server-room", open: true)
        // The lobby is the escape route: its exit button releases it even now.
        try s.pressExit("lobby")
        #expect(s.site.doorState("lobby")?.lockReleased == true)
        try s.setContact("server-room", open: false)
        s.run(for: 6)   // the lobby's exit release runs out
        #expect(s.site.doorState("lobby")?.lockReleased == false)

        // The lobby open: the server room's exit button waits, and says why.
        try s.swipe("lobby", badge: "12:1001")
        try s.setContact("lobby", open: true)
        let before = serverRoomReleases()
        try s.pressExit("server-room")
        #expect(serverRoomReleases() == before)
        s.audit.flush()
        var rex: [AuditEvent] = []
        try s.auditStore.forEachRow { _, e in if e.type == "door.rex" && e.door == "server-room" { rex.append(e) } }
        #expect(rex.last?.detail?["detail"] == "refused: interlock airlock: door lobby is open", "\(rex.map { $0.detail ?? [:] })")
        try s.setContact("lobby", open: false)

        // The fire alarm releases the fail-safe lobby whatever the interlock; the server room
        // still waits for it.
        try s.setFireAlarm(true)
        #expect(s.site.doorState("lobby")?.lockReleased == true)
        try s.swipe("server-room", badge: "12:1001")
        #expect(try decisions().last?.reasons == ["interlock"])
        try s.setFireAlarm(false)
        s.finish()
    }
}
