import IntegrationsEmbedded
import Audit
import Foundation
import Integrations
import Policy
import Testing

/// The broker-side checks of remote commands, over the in-memory link: each refusal says
/// why and nothing reaches the controller; what passes reaches it exactly once.
struct RemoteCommandTests {
    final class Taken: @unchecked Sendable {
        private let lock = NSLock()
        private var commands: [RemoteCommand] = []
        var room = true
        func offer(_ c: RemoteCommand) -> Bool { lock.withLock { guard room else { return false }; commands.append(c); return true } }
        var all: [RemoteCommand] { lock.withLock { commands } }
    }

    static let doors = [HomeAssistantDiscovery.Door(id: "lobby", name: "Lobby"), HomeAssistantDiscovery.Door(id: "server-room", name: "Server room")]
    static let lobby = "warden/example_hq/door/lobby/command"
    static let serverRoom = "warden/example_hq/door/server-room/command"

    /// A connected publisher; `enabled` commands for the lobby only.
    func publisher(enabled: Bool, _ recorded: Recorded, _ taken: Taken) throws -> (EventPublisher, EmbeddedMQTT) {
        var s = MQTTSettings(host: "x", site: "Example HQ", discovery: false)
        if enabled { s.commands = .init(enabled: true, doors: ["lobby"]) }
        let link = EmbeddedMQTT()
        let p = EventPublisher(settings: s, connection: link, doors: Self.doors, version: "t", record: { recorded.add($0) })
        p.onCommand = { taken.offer($0) }
        try p.start()
        link.connect()
        return (p, link)
    }

    /// Sends one message and returns the refusal it was recorded with (nil: it passed).
    func refusal(enabled: Bool = true, topic: String, _ payload: String, retained: Bool = false, room: Bool = true) throws -> (String?, [RemoteCommand]) {
        let recorded = Recorded(), taken = Taken()
        taken.room = room
        let (p, link) = try publisher(enabled: enabled, recorded, taken)
        defer { p.stop(drain: 0) }
        link.deliver(topic: topic, payload, retained: retained)
        return (recorded.all.first { $0.type == "integration.command_refused" }?.detail?["reason"], taken.all)
    }

    @Test func everyBrokerSideCheckRefusesWithItsReason() throws {
        let cases: [(String, String, Bool, Bool, Bool, String)] = [
            // enabled, topic, payload, retained, room -> the reason's words
            ("disabled", Self.lobby, false, false, true, "not enabled"),
            ("retained", Self.lobby, true, true, true, "retained"),
            ("unlisted", Self.serverRoom, true, false, true, "not listed in mqtt.commands.doors"),
            ("no such door", "warden/example_hq/door/garage/command", true, false, true, "no door of this site"),
            ("a deeper topic", "warden/example_hq/door/lobby/command/x", true, false, true, "no door of this site"),
            ("inbox full", Self.lobby, true, false, false, "too many commands"),
        ]
        for (name, topic, enabled, retained, room, words) in cases {
            let payload = "UNLOCK"
            let (reason, taken) = try refusal(enabled: enabled, topic: topic, payload, retained: retained, room: room)
            #expect(reason?.contains(words) == true, "\(name): \(reason ?? "passed")")
            #expect(taken.isEmpty, "\(name): reached the controller")
        }
    }

    @Test func payloadsAreReadStrictly() throws {
        for (payload, words) in [("LOCK", "relocks by itself"), ("", "empty"), ("{\"command\": \"open_sesame\"}", "command must be one of"),
                                 ("{\"command\": \"release\", \"door\": \"x\"}", "unknown field"), ("{not json", "not a JSON object"),
                                 ("{\"command\": \"release\", \"requested_by\": 7}", "requested_by"),
                                 (String(repeating: "A", count: 2000), "over 1024 bytes"), ("\u{1b}[2J", "unrecognised")] {
            let (reason, taken) = try refusal(topic: Self.lobby, payload)
            #expect(reason?.contains(words) == true, "\(payload.prefix(30)): \(reason ?? "passed")")
            #expect(taken.isEmpty)
        }
        // What is recorded of a hostile payload is printable.
        let recorded = Recorded(), taken = Taken()
        let (p, link) = try publisher(enabled: true, recorded, taken)
        link.deliver(topic: Self.lobby, "\u{1b}[2J\u{7}")
        p.stop(drain: 0)
        let shown = try #require(recorded.all.first { $0.type == "integration.command_refused" }?.detail?["payload"])
        #expect(shown.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7f }, "\(shown)")
    }

    @Test func whatPassesReachesTheControllerOnceWithWhoAsked() throws {
        let recorded = Recorded(), taken = Taken()
        let (p, link) = try publisher(enabled: true, recorded, taken)
        link.deliver(topic: Self.lobby, "UNLOCK")
        link.deliver(topic: Self.lobby, "{\"command\": \"lockdown\", \"requested_by\": \"ana@ha\"}")
        link.deliver(topic: Self.lobby, "clear_lockdown")
        p.stop(drain: 0)
        #expect(taken.all == [RemoteCommand(door: "lobby", action: .release, requestedBy: "unnamed client", topic: Self.lobby),
                              RemoteCommand(door: "lobby", action: .lockdown, requestedBy: "ana@ha", topic: Self.lobby),
                              RemoteCommand(door: "lobby", action: .clearLockdown, requestedBy: "unnamed client", topic: Self.lobby)])
        #expect(recorded.count("integration.command_refused") == 0)
    }
}
