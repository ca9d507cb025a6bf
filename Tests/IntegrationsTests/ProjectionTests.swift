import IntegrationsEmbedded
import Audit
import Foundation
import Integrations
import Testing

/// The pure parts, and the publisher's queueing over the in-memory link.
struct ProjectionTests {
    static let topics = TopicScheme(prefix: "warden", site: "Example HQ", board: "warden")

    func door(_ type: String, _ door: String = "lobby", kind: AuditEvent.Kind = .door) -> AuditEvent { AuditEvent(kind: kind, type: type, door: door) }

    func retained(_ msgs: [MQTTMessage]) -> [String: String] {
        Dictionary(msgs.filter(\.retain).map { ($0.topic, $0.text) }, uniquingKeysWith: { _, b in b })
    }

    @Test func aDoorsStateFollowsItsEvents() {
        var p = EventProjection(topics: Self.topics, site: "Example HQ", person: .id, doors: ["lobby"])
        #expect(retained(p.retained())["warden/example_hq/door/lobby/state"] == "locked")
        let steps: [(String, AuditEvent.Kind, String)] = [
            ("door.released", .door, "released"), ("door.opened", .door, "open"), ("door.held_open", .door, "held_open"),
            ("door.held_open_cleared", .door, "open"), ("door.closed", .door, "released"), ("door.relocked", .door, "locked"),
            ("door.forced_open", .door, "forced"), ("door.forced_open_cleared", .door, "locked"),
            ("system.door_unavailable", .system, "out_of_service"), ("door.opened", .door, "open"),
        ]
        for (type, kind, state) in steps {
            _ = p.messages(for: door(type, kind: kind))
            #expect(p.doors["lobby"]?.state == state, "after \(type)")
        }
        let r = retained(p.retained())
        #expect(r["warden/example_hq/door/lobby/contact"] == "open" && r["warden/example_hq/door/lobby/lock"] == "LOCKED")
        #expect(r["warden/example_hq/door/lobby/alarm/forced_open"] == "OFF")
    }

    @Test func onlyWhatChangedIsRepublishedAndAdminEventsAreNot() {
        var p = EventProjection(topics: Self.topics, site: "Example HQ", person: .id, doors: ["lobby"])
        let forced = p.messages(for: door("door.forced_open"))
        #expect(forced.map(\.topic) == ["warden/example_hq/door/lobby/event", "warden/example_hq/door/lobby/state", "warden/example_hq/door/lobby/alarm/forced_open"])
        #expect(forced.last?.text == "ON" && forced.last?.retain == true && forced.first?.retain == false)
        let fault = p.messages(for: AuditEvent(kind: .system, type: "system.camera_fault", door: "lobby", detail: ["reason": "unplugged"]))
        #expect(fault.map(\.topic) == ["warden/example_hq/event", "warden/example_hq/door/lobby/fault/camera"])
        #expect(p.messages(for: .admin("admin.enroll", operator: "ana", subject: "person:7")).isEmpty)
    }

    @Test func aNameNeverWidensATopic() {
        #expect(MQTTSettings.topicLevel("Lab/+#\u{0}Ü") == "lab_____")
        #expect(TopicScheme(prefix: "a/#", site: "+", board: "b").base == "a/_/_")
        #expect(Self.topics.door("server room/#") == "warden/example_hq/door/server_room__")
    }

    static func decision(_ seq: Int64) -> AuditEvent {
        var e = AuditEvent(kind: .decision, type: "access.granted", door: "lobby", personID: 7, result: "granted"); e.seq = seq; return e
    }

    /// Before the first connect the queue holds the newest `queueLimit` messages; on connect
    /// the online status, discovery and state go first, then the queue in order.
    @Test func theQueueIsBoundedAndSentInOrderOnConnect() async throws {
        let link = EmbeddedMQTT(), recorded = Recorded()
        let p = EventPublisher(settings: MQTTSettings(host: "x", site: "Example HQ", discovery: false, queueLimit: 10), connection: link,
                               doors: [.init(id: "lobby", name: "Lobby")], version: "t", record: { recorded.add($0) })
        try p.start()
        #expect(link.will == MQTTMessage(topic: "warden/example_hq/status/warden", text: "offline", retain: true))
        p.accept((1...25).map(Self.decision))
        #expect(p.counters.queued == 10 && p.counters.dropped == 15)
        link.connect()
        try await waitFor("all sent") { p.counters.queued == 0 }
        let sent = link.published
        #expect(sent.first?.text == "online")
        let seqs = sent.filter { $0.topic.hasSuffix("/decision") }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any])?["seq"] as? Int }
        // The 10 newest, after the online status and the state (which a full queue never pushes out).
        #expect(seqs == Array(16...25), "\(seqs)")
        #expect(sent.contains { $0.topic == "warden/example_hq/door/lobby/state" && $0.text == "locked" })
        #expect(recorded.all.first { $0.type == "integration.mqtt_connected" }?.detail?["dropped"] == String(p.counters.dropped))
        #expect(link.subscribed == ["warden/example_hq/door/+/command"])
        p.stop(drain: 0)
        #expect(link.stoppedWith == .some(MQTTMessage(topic: "warden/example_hq/status/warden", text: "offline", retain: true)))
    }

    /// A slow broker: at most `maximumInFlight` messages wait for its acknowledgement.
    @Test func unacknowledgedMessagesAreBounded() async throws {
        let link = EmbeddedMQTT()
        let p = EventPublisher(settings: MQTTSettings(host: "x", site: "S", discovery: false, queueLimit: 1000), connection: link,
                               doors: [], version: "t", record: { _ in })
        try p.start()
        link.connect()
        try await waitFor("online sent") { link.published.count == 1 }
        p.accept((1...300).map(Self.decision))
        try await waitFor("the in-flight limit") { link.published.count == EventPublisher.maximumInFlight }
        try await Task.sleep(for: .milliseconds(100))
        #expect(link.published.count == EventPublisher.maximumInFlight, "nothing more until the broker acknowledges")
        // The online status and 99 decisions wait; 100 acknowledgements let 100 more go.
        #expect(p.counters.queued == 201)
        link.acknowledge(100)
        try await waitFor("more sent") { link.published.count == 200 }
        #expect(p.counters.queued == 101)
        p.stop(drain: 0)
    }

    /// A lost link keeps what is queued for the next connect, and says how long it was down.
    @Test func aLostLinkIsRecordedOnceAndTheReturnWithItsCount() async throws {
        let link = EmbeddedMQTT(), recorded = Recorded()
        let p = EventPublisher(settings: MQTTSettings(host: "x", site: "S", discovery: false, queueLimit: 100), connection: link,
                               doors: [], version: "t", record: { recorded.add($0) })
        try p.start()
        link.connect()
        link.drop("broker gone")
        link.drop("still gone")
        p.accept((1...5).map(Self.decision))
        #expect(recorded.all.filter { $0.type == "integration.mqtt_lost" }.count == 1)
        link.connect()
        try await waitFor("sent") { link.published.filter { $0.topic.hasSuffix("/decision") }.count == 5 }
        let back = try #require(recorded.all.last { $0.type == "integration.mqtt_connected" })
        #expect(back.detail?["dropped"] == "0" && back.detail?["offline_seconds"] != nil)
        p.stop(drain: 0)
    }
}
