import CommandSupport
import PrivateServers
import WardenCLI
import WardenCore
import ArgumentParser
import Audit
import Foundation
import Integrations

struct BenchIntegrations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "integrations",
        abstract: "What MQTT publishing costs the audit writer, with the broker up and with it gone, and the throughput to a real broker.",
        discussion: """
        Starts a private mosquitto on a free loopback port (Debian's, as the tests do) and \
        hands the publisher committed decision events the way the audit writer's commit hook \
        does. Reported per event: the time `accept` takes with the broker up, and with the \
        broker killed and the queue full (the drop path), each as a ratio to the peer in the \
        same run, `AuditLog.record` (what a door already pays to log the event); and the \
        messages per second the broker acknowledged.
        """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events per phase.") var events = 100_000

    struct Result: Codable {
        let events: Int
        let recordNsPerEvent: Double
        let acceptUpNsPerEvent: Double
        let acceptDownNsPerEvent: Double
        let acceptUpRatioToRecord: Double
        let acceptDownRatioToRecord: Double
        let brokerMessagesPerSecond: Double
        let droppedWhileDown: Int
    }

    static func decision(_ seq: Int) -> AuditEvent {
        var e = AuditEvent(kind: .decision, type: "access.granted", door: "lobby", zone: "building", personID: Int64(seq % 500), result: "granted",
                           factors: [FactorResult(factor: "badge", ok: true), FactorResult(factor: "face", ok: true)], rule: "staff-building", doorAction: "released 5s")
        e.seq = Int64(seq)
        return e
    }

    static func nanoseconds(_ body: () -> Void) -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t)
    }

    func run() throws {
        guard PrivateBroker.available else { throw CLIError("needs Debian's mosquitto (/usr/sbin/mosquitto): run `make setup`") }
        let batch = (0..<events).map(Self.decision)

        // The peer: what a door pays today to log the same events (into a throw-away log).
        let dir = NSTemporaryDirectory() + "warden-bench-integrations-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = AuditLog(store: try AuditStore(home: dir), capacity: events + 1)
        let record = Self.nanoseconds { for e in batch { log.record(e) } } / Double(events)
        log.close()

        let broker = try PrivateBroker()
        defer { broker.destroy() }
        let settings = MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "warden-bench", site: "Bench", queueLimit: events + 1000)
        let publisher = EventPublisher(settings: settings, connection: MosquittoConnection(settings: settings),
                                       doors: [.init(id: "lobby", name: "Lobby")], version: "bench", record: { _ in })
        do { try publisher.start() } catch { throw CLIError(error.description) }
        for _ in 0..<200 where !publisher.counters.connected { Thread.sleep(forTimeInterval: 0.05) }
        guard publisher.counters.connected else { throw CLIError("the private broker did not take a connection within 10 s") }
        let before = publisher.counters.published
        let started = Date()
        let up = Self.nanoseconds { for e in batch { publisher.accept([e]) } } / Double(events)
        while publisher.counters.published - before < events && Date().timeIntervalSince(started) < 300 { Thread.sleep(forTimeInterval: 0.01) }
        let rate = Double(publisher.counters.published - before) / Date().timeIntervalSince(started)

        broker.kill()
        for _ in 0..<200 where publisher.counters.connected { Thread.sleep(forTimeInterval: 0.05) }
        let droppedBefore = publisher.counters.dropped
        // Twice the queue: the second half runs the drop path.
        let down = Self.nanoseconds { for e in batch + batch { publisher.accept([e]) } } / Double(2 * events)
        let dropped = publisher.counters.dropped - droppedBefore
        publisher.stop(drain: 0)

        let r = Result(events: events, recordNsPerEvent: record, acceptUpNsPerEvent: up, acceptDownNsPerEvent: down,
                       acceptUpRatioToRecord: up / record, acceptDownRatioToRecord: down / record, brokerMessagesPerSecond: rate, droppedWhileDown: dropped)
        if global.json { try Output.json(r); return }
        print(String(format: "integrations: %d decision events per phase", events))
        print(String(format: "  AuditLog.record (the peer)          %8.0f ns/event", record))
        print(String(format: "  accept, broker up                   %8.0f ns/event  (%.2fx the peer)", up, r.acceptUpRatioToRecord))
        print(String(format: "  accept, broker gone, queue full     %8.0f ns/event  (%.2fx the peer; %d dropped and counted)", down, r.acceptDownRatioToRecord, dropped))
        print(String(format: "  to a real mosquitto: %.0f messages/s acknowledged (QoS 1, at most %d in flight)", rate, EventPublisher.maximumInFlight))
    }
}
