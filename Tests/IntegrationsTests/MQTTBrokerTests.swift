import PrivateServers
import Audit
import WardenCore
import Foundation
import Integrations
import Testing

/// The publisher over libmosquitto against a real mosquitto started by the test, read by
/// mosquitto_sub: what a Home Assistant or Node-RED set-up would see.
@Suite(.serialized, .enabled(if: TestBroker.available, "needs Debian's mosquitto (make setup installs it)"))
struct MQTTBrokerTests {
    static let doors = [HomeAssistantDiscovery.Door(id: "lobby", name: "Main entrance"), HomeAssistantDiscovery.Door(id: "server-room", name: "Server room")]

    func publisher(_ broker: TestBroker, _ recorded: Recorded, configure: (inout MQTTSettings) -> Void = { _ in }) throws -> EventPublisher {
        var s = MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "warden-test-\(UUID().uuidString.prefix(6))", site: "Example HQ", board: "board-1")
        configure(&s)
        let p = EventPublisher(settings: s, connection: MosquittoConnection(settings: s), doors: Self.doors, version: "test", record: { recorded.add($0) })
        try p.start()
        return p
    }

    static func granted(seq: Int64, door: String = "lobby", person: Int64 = 7) -> AuditEvent {
        var e = AuditEvent(kind: .decision, type: "access.granted", door: door, zone: "building", badge: "12:4242", personID: person, personName: "Ada Lovelace",
                           result: "granted", factors: [FactorResult(factor: "badge", ok: true)], rule: "staff-building", doorAction: "released 5s")
        e.seq = seq
        return e
    }

    @Test func decisionsAndDoorStatesAreOnTheBrokerWithIDsNotNames() async throws {
        let broker = try TestBroker()
        defer { broker.destroy() }
        let recorded = Recorded()
        let p = try publisher(broker, recorded)
        try await waitFor("connect") { p.counters.connected }
        // Subscribed once the retained status has come; then the events.
        let sub = try broker.subscriber("warden/example_hq/#")
        #expect(try await sub.waitFor { $0 == "warden/example_hq/status/board-1 online" })
        var denied = AuditEvent(kind: .decision, type: "access.denied", door: "lobby", personID: 8, personName: "Eve", result: "denied", reasons: ["no_grant"])
        denied.seq = 2
        var released = AuditEvent(kind: .door, type: "door.released", door: "lobby"); released.seq = 3
        var opened = AuditEvent(kind: .door, type: "door.opened", door: "lobby"); opened.seq = 4
        p.accept([Self.granted(seq: 1), denied, released, opened])
        #expect(try await sub.waitFor { $0 == "warden/example_hq/door/lobby/contact open" })
        let lines = sub.stop()
        // The retained state first (sent on connect), then what the events changed.
        let decision = try #require(lines.first { $0.hasPrefix("warden/example_hq/door/lobby/decision ") && $0.contains("granted") }, "\(lines)")
        let json = try JSONSerialization.jsonObject(with: Data(decision.dropFirst("warden/example_hq/door/lobby/decision ".count).utf8)) as? [String: Any]
        #expect(json?["schema"] as? Int == 1 && json?["seq"] as? Int == 1 && json?["result"] as? String == "granted" && json?["rule"] as? String == "staff-building")
        #expect((json?["person"] as? [String: Any])?["id"] as? Int == 7)
        #expect(!decision.contains("Ada") && !decision.contains("12:4242"), "names and badge numbers are not published by default: \(decision)")
        #expect(lines.contains { $0.contains("/decision ") && $0.contains("\"reasons\":[\"no_grant\"]") }, "\(lines)")
        p.stop()

        // Retained: a subscriber that comes later sees the door as it stands.
        let later = try await broker.subscribe("warden/example_hq/door/lobby/+", count: 3, seconds: 5)
        #expect(later.contains("warden/example_hq/door/lobby/state open"), "\(later)")
        #expect(later.contains("warden/example_hq/door/lobby/lock UNLOCKED"), "\(later)")
        #expect(later.contains("warden/example_hq/door/lobby/contact open"), "\(later)")
        let status = try await broker.subscribe("warden/example_hq/status/board-1", count: 1, seconds: 5)
        #expect(status == ["warden/example_hq/status/board-1 offline"], "a stopped publisher says so: \(status)")
        #expect(recorded.count("integration.mqtt_connected") == 1)
    }

    /// Two boards of one site on one broker, each with the client id it chooses by default:
    /// neither takes the other's session, and one stopping marks only its own doors offline.
    @Test func twoBoardsOfOneSiteKeepTheirOwnSessionsAndStatus() async throws {
        let broker = try TestBroker()
        defer { broker.destroy() }
        let (r1, r2) = (Recorded(), Recorded())
        func board(_ name: String, _ doors: [HomeAssistantDiscovery.Door], _ recorded: Recorded) throws -> EventPublisher {
            var s = MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: MQTTSettings.automaticClientID(controller: nil), site: "Example HQ")
            s.identify(controller: name)
            let p = EventPublisher(settings: s, connection: MosquittoConnection(settings: s), doors: doors, version: "test", record: { recorded.add($0) })
            try p.start()
            return p
        }
        let b1 = try board("b1", [.init(id: "lobby", name: "Lobby")], r1)
        let b2 = try board("b2", [.init(id: "server-room", name: "Server room")], r2)
        #expect(b1.settings.clientID != b2.settings.clientID)
        try await waitFor("both connect") { b1.counters.connected && b2.counters.connected }
        let sub = try broker.subscriber("warden/example_hq/status/#")
        #expect(try await sub.waitFor { $0 == "warden/example_hq/status/b2 online" })
        // A while for any session take-over to show as a reconnect.
        try await Task.sleep(for: .seconds(3))
        #expect(r1.count("integration.mqtt_connected") == 1 && r2.count("integration.mqtt_connected") == 1,
                "sessions taken over: \(r1.count("integration.mqtt_connected")), \(r2.count("integration.mqtt_connected"))")
        b1.stop()
        #expect(try await sub.waitFor { $0 == "warden/example_hq/status/b1 offline" })
        let lines = sub.stop()
        #expect(!lines.contains("warden/example_hq/status/b2 offline"), "\(lines)")
        #expect(b2.counters.connected)
        b2.stop()
    }

    @Test func namesArePublishedOnlyWhenTheSiteChoosesThem() async throws {
        let broker = try TestBroker()
        defer { broker.destroy() }
        let p = try publisher(broker, Recorded()) { $0.person = .name }
        try await waitFor("connect") { p.counters.connected }
        let sub = try broker.subscriber("warden/example_hq/#")
        #expect(try await sub.waitFor { $0 == "warden/example_hq/status/board-1 online" })
        p.accept([Self.granted(seq: 5)])
        #expect(try await sub.waitFor { $0.contains("/decision ") })
        let lines = sub.stop().filter { $0.contains("/decision ") }
        #expect(lines.first?.contains("\"name\":\"Ada Lovelace\"") == true, "\(lines)")
        p.stop()
    }

    /// Every discovery config against Home Assistant's documented MQTT discovery fields
    /// (https://www.home-assistant.io/integrations/lock.mqtt/, binary_sensor.mqtt, sensor.mqtt):
    /// the required ones present, nothing Home Assistant does not know, ids unique.
    @Test func homeAssistantDiscoveryIsValid() async throws {
        let broker = try TestBroker()
        defer { broker.destroy() }
        let p = try publisher(broker, Recorded())
        try await waitFor("connect") { p.counters.connected }
        let lines = try await broker.subscribe("homeassistant/#", count: 16, seconds: 10)
        p.stop()
        #expect(lines.count == 16, "8 entities for each of 2 doors (lock, contact, camera fault, 3 alarms, decision, state): \(lines.count)")
        let common: Set<String> = ["name", "unique_id", "device", "availability_topic", "payload_available", "payload_not_available", "state_topic",
                                   "entity_category", "icon", "json_attributes_topic", "value_template", "device_class"]
        let documented: [String: (required: Set<String>, allowed: Set<String>)] = [
            "lock": (["command_topic"], common.union(["command_topic", "payload_lock", "payload_unlock", "state_locked", "state_unlocked", "optimistic"])),
            "binary_sensor": (["state_topic"], common.union(["payload_on", "payload_off"])),
            "sensor": (["state_topic"], common.union(["options"])),
        ]
        let binaryClasses: Set<String> = ["door", "problem", "tamper"]
        var ids = Set<String>(), devices = Set<String>()
        for line in lines {
            let space = try #require(line.firstIndex(of: " "))
            let topic = line[..<space].split(separator: "/").map(String.init)
            #expect(topic.count == 5 && topic[0] == "homeassistant" && topic[4] == "config" && topic[2] == "warden_example_hq", "\(topic)")
            #expect(topic[3].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }, "object id \(topic[3])")
            let config = try #require(try JSONSerialization.jsonObject(with: Data(line[line.index(after: space)...].utf8)) as? [String: Any])
            let rule = try #require(documented[topic[1]], "component \(topic[1])")
            #expect(rule.required.isSubset(of: Set(config.keys)), "\(topic[1]) needs \(rule.required)")
            #expect(Set(config.keys).isSubset(of: rule.allowed), "\(topic[1]) has undocumented \(Set(config.keys).subtracting(rule.allowed))")
            if topic[1] == "binary_sensor" { #expect(binaryClasses.contains(config["device_class"] as? String ?? ""), "\(config)") }
            #expect(config["availability_topic"] as? String == "warden/example_hq/status/board-1")
            let device = try #require(config["device"] as? [String: Any])
            #expect(device["manufacturer"] as? String == "Warden" && (device["name"] as? String).map { ["Main entrance", "Server room"].contains($0) } == true)
            devices.insert(((device["identifiers"] as? [String]) ?? []).joined())
            let id = try #require(config["unique_id"] as? String)
            #expect(ids.insert(id).inserted, "duplicate unique_id \(id)")
            #expect((config["state_topic"] as? String)?.hasPrefix("warden/example_hq/door/") == true)
        }
        #expect(devices == ["warden_example_hq_lobby", "warden_example_hq_server-room"], "one device per door: \(devices)")
    }

    /// The broker killed while events keep coming: `accept` returns at once, the queue stays
    /// at its limit, the oldest are dropped and counted, and when the broker is back the
    /// count is recorded and messages flow again.
    @Test func aKilledBrokerCostsCountedMessagesNeverADoor() async throws {
        let broker = try TestBroker()
        defer { broker.destroy() }
        let recorded = Recorded()
        let p = try publisher(broker, recorded) { $0.queueLimit = 50 }
        try await waitFor("connect") { p.counters.connected }
        broker.kill()
        try await waitFor("the loss noticed") { recorded.count("integration.mqtt_lost") == 1 }
        for i in 0..<300 { p.accept([Self.granted(seq: Int64(100 + i))]) }
        let held = p.counters
        #expect(held.queued == 50 && held.dropped == 250, "\(held)")

        try broker.start()
        try await waitFor("reconnect") { recorded.count("integration.mqtt_connected") == 2 }
        let restored = try #require(recorded.all.last { $0.type == "integration.mqtt_connected" })
        // The 250 pushed out of the full queue; the 50 newest go out behind the online
        // status, the discovery and the state, which a full queue never pushes out.
        let dropped = Int(restored.detail?["dropped"] ?? "") ?? -1
        #expect(dropped == 250, "\(restored.detail ?? [:])")
        #expect(restored.detail?["offline_seconds"] != nil)
        let sub = try broker.subscriber("warden/example_hq/#")
        #expect(try await sub.waitFor { $0 == "warden/example_hq/status/board-1 online" })
        p.accept([Self.granted(seq: 999)])
        #expect(try await sub.waitFor { $0.contains("\"seq\":999") }, "messages flow again")
        _ = sub.stop()
        #expect(p.counters.dropped == dropped, "the count recorded is the count kept")
        p.stop()
    }

    @Test func aWrongPasswordIsRefusedAndLoggedTheRightOneConnects() async throws {
        let broker = try TestBroker(users: ["warden": "s3cret-door"])
        defer { broker.destroy() }
        let refusedLog = Recorded()
        let wrong = try publisher(broker, refusedLog) { $0.username = "warden"; $0.password = "guess" }
        try await waitFor("the refusal logged") { refusedLog.count("integration.mqtt_lost") == 1 }
        #expect(refusedLog.all.first?.detail?["reason"]?.contains("refused") == true, "\(refusedLog.all.first?.detail ?? [:])")
        #expect(!wrong.counters.connected)
        wrong.stop()
        let recorded = Recorded()
        let right = try publisher(broker, recorded) { $0.username = "warden"; $0.password = "s3cret-door" }
        try await waitFor("connect") { right.counters.connected }
        let status = try await broker.subscribe("warden/example_hq/status/board-1", count: 1, seconds: 5, user: ("warden", "s3cret-door"))
        #expect(status == ["warden/example_hq/status/board-1 online"], "\(status)")
        right.stop()
    }

    /// Remote commands are off: a release from the lock's command topic is refused and
    /// recorded (with the topic), a flood is recorded once per door per interval.
    @Test func aRemoteCommandIsRefusedAndRecordedNeverActedOn() async throws {
        let broker = try TestBroker()
        defer { broker.destroy() }
        let recorded = Recorded()
        let p = try publisher(broker, recorded)
        try await waitFor("connect") { p.counters.connected }
        // The command subscription goes out before the connect is recorded; a command sent
        // before the broker has it is lost, so send until one is refused.
        try await waitFor("the connect recorded") { recorded.count("integration.mqtt_connected") == 1 }
        for _ in 0..<100 where recorded.count("integration.command_refused") == 0 {
            for _ in 0..<5 { try broker.publish("warden/example_hq/door/lobby/command", "UNLOCK") }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await waitFor("a refusal") { recorded.count("integration.command_refused") == 1 }
        try await Task.sleep(for: .milliseconds(500))
        #expect(recorded.count("integration.command_refused") == 1, "a flood is recorded once per interval")
        let r = try #require(recorded.all.first { $0.type == "integration.command_refused" })
        #expect(r.door == "lobby" && r.detail?["payload"] == "UNLOCK" && r.detail?["topic"] == "warden/example_hq/door/lobby/command")
        p.stop()
    }
}

extension MQTTBrokerTests {
    /// TLS with the site's CA file and a client certificate as the broker's only proof of
    /// who connects, over MQTT 5; a client without the certificate, or trusting another CA,
    /// is refused and says why.
    @Test func tlsWithAClientCertificateOverMQTT5() async throws {
        let certs = try ThrowawayCertificates()
        defer { certs.destroy() }
        let broker = try TestBroker(tls: .init(caFile: certs.ca, certFile: certs.server.cert, keyFile: certs.server.key, requireClientCertificate: true))
        defer { broker.destroy() }
        let recorded = Recorded()
        let p = try publisher(broker, recorded) {
            $0.protocolVersion = .v5
            $0.tls = .init(caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key)
        }
        try await waitFor("connect over TLS") { p.counters.connected }
        p.accept([Self.granted(seq: 1)])
        try await waitFor("published") { p.counters.published > 20 }
        p.stop()
        let log = try String(contentsOfFile: broker.dir + "/broker.log", encoding: .utf8)
        #expect(log.contains("as warden-door-1") || log.contains("u'warden-door-1'"), "the broker knew the client by its certificate: \(log.suffix(600))")

        let noCertificate = Recorded()
        let anonymous = try publisher(broker, noCertificate) { $0.tls = .init(caFile: certs.ca) }
        try await waitFor("the refusal") { noCertificate.count("integration.mqtt_lost") == 1 }
        #expect(!anonymous.counters.connected)
        anonymous.stop()

        let other = try ThrowawayCertificates()
        defer { other.destroy() }
        let wrongCA = Recorded()
        let impostor = try publisher(broker, wrongCA) { $0.tls = .init(caFile: other.ca, certFile: certs.client.cert, keyFile: certs.client.key) }
        try await waitFor("the refusal") { wrongCA.count("integration.mqtt_lost") == 1 }
        #expect(!impostor.counters.connected, "a broker whose certificate another CA signed is not trusted")
        #expect(wrongCA.all.first?.detail?["reason"]?.isEmpty == false)
        impostor.stop()
    }
}
