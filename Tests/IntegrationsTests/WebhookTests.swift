import PrivateServers
import Audit
import Foundation
import Glibc
import Integrations
import Testing
import WardenCore

/// Webhooks to a receiver on loopback over real HTTP (libcurl): signed, in order, retried
/// with back-off, bounded.
@Suite(.serialized) struct WebhookTests {
    static let secret = Array("a shared secret of the site".utf8)

    func sender(_ url: String, _ recorded: Recorded, configure: (inout WebhookSettings) -> Void = { _ in }) -> WebhookSender {
        var s = WebhookSettings(url: url, secret: Self.secret, site: "Example HQ", retryDelay: 0.05)
        configure(&s)
        let w = WebhookSender(settings: s, record: { recorded.add($0) })
        w.start()
        return w
    }

    @Test func deliveriesAreSignedAndInOrderAndAdminChangesStayHome() async throws {
        let receiver = try WebhookReceiver()
        defer { receiver.close() }
        let w = sender(receiver.url, Recorded())
        var admin = AuditEvent.admin("admin.enroll", operator: "ana", subject: "person:7"); admin.seq = 1
        w.accept([admin] + (2...4).map { MQTTBrokerTests.granted(seq: Int64($0)) })
        try await waitFor("three deliveries") { receiver.requests.count == 3 }
        let now = Int(Date().timeIntervalSince1970)
        for (i, r) in receiver.requests.enumerated() {
            let signature = try #require(r.headers["x-warden-signature"])
            #expect(WebhookSignature.verify(header: signature, body: r.body, secret: Self.secret, now: now))
            #expect(!WebhookSignature.verify(header: signature, body: r.body, secret: Array("another".utf8), now: now), "another secret does not verify")
            #expect(!WebhookSignature.verify(header: signature, body: r.body + [0x20], secret: Self.secret, now: now), "a changed body does not verify")
            #expect(!WebhookSignature.verify(header: signature, body: r.body, secret: Self.secret, now: now + 3600), "an old delivery is refused")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
            #expect(json["schema"] as? Int == 1 && json["seq"] as? Int == i + 2 && json["type"] as? String == "access.granted")
            #expect(r.headers["x-warden-event"] == "access.granted" && r.headers["x-warden-delivery"] == "Example HQ/\(i + 2)")
            #expect(!String(decoding: r.body, as: UTF8.self).contains("Ada"))
        }
        w.stop()
    }

    @Test func aFailingReceiverIsRetriedWithBackOffAndTheRecoveryRecorded() async throws {
        let receiver = try WebhookReceiver(statuses: [503, 500, 200])
        defer { receiver.close() }
        let recorded = Recorded()
        let w = sender(receiver.url, recorded)
        w.accept([MQTTBrokerTests.granted(seq: 10)])
        try await waitFor("the recovery") { recorded.count("integration.webhook_restored") == 1 }
        #expect(receiver.requests.count == 3, "two failures, then delivered")
        #expect(recorded.count("integration.webhook_failing") == 1)
        let failing = try #require(recorded.all.first { $0.type == "integration.webhook_failing" })
        #expect(failing.detail?["reason"] == "HTTP 503")
        #expect(failing.detail?["url"] == "http://127.0.0.1:\(receiver.port)/hooks/warden", "the token in the query is not logged: \(failing.detail ?? [:])")
        #expect(recorded.all.last { $0.type == "integration.webhook_restored" }?.detail?["dropped"] == "0")
        let c = w.counters
        #expect(c.queued == 0 && c.delivered == 1 && c.dropped == 0 && !c.failing, "\(c)")
        w.stop()
    }

    @Test func aRefusalIsFinalAndAnUnreachableReceiverCostsCountedEventsOnly() async throws {
        let receiver = try WebhookReceiver(statuses: [400])
        defer { receiver.close() }
        let recorded = Recorded()
        let w = sender(receiver.url, recorded)
        w.accept([MQTTBrokerTests.granted(seq: 20), MQTTBrokerTests.granted(seq: 21)])
        try await waitFor("the second delivered") { w.counters.delivered == 1 }
        #expect(receiver.requests.count == 2, "a 400 is not retried")
        #expect(w.counters.dropped == 1)
        w.stop()

        // Nobody listening: each event tried `attempts` times, the queue never past its limit.
        let deadRecorded = Recorded()
        // A port held bound but not listening: refused at once, and no other test's server
        // can take it meanwhile (a free port, released, was taken by one and answered nothing).
        let closed = try LoopbackPort.bound()
        defer { close(closed.fd) }
        let dead = sender("http://127.0.0.1:\(closed.port)/x", deadRecorded) { $0.queueLimit = 5; $0.attempts = 2 }
        for i in 0..<20 { dead.accept([MQTTBrokerTests.granted(seq: Int64(100 + i))]) }
        #expect(dead.counters.queued <= 5)
        try await waitFor("all dropped") { dead.counters.dropped == 20 }
        #expect(deadRecorded.count("integration.webhook_failing") == 1, "one record per outage")
        #expect(deadRecorded.all.first?.detail?["reason"]?.contains("onnect") == true, "\(deadRecorded.all.first?.detail ?? [:])")
        dead.stop()
    }
}
