import Foundation
import Integrations

/// The broker link in memory, as swift-nio's `NIOEmbedded` is a channel in memory: the test
/// says when it connects, drops or acknowledges, and reads what was published. For tests of
/// the publisher's queueing and reconnect rules without a broker; the broker tests use
/// `MosquittoConnection` against a real mosquitto.
public final class EmbeddedMQTT: MQTTConnection, @unchecked Sendable {
    private let lock = NSLock()
    private var events: (@Sendable (MQTTConnectionEvent) -> Void)?
    private var up = false
    private var sent: [MQTTMessage] = []
    private var subscriptions: [String] = []
    public private(set) var will: MQTTMessage?
    public private(set) var stoppedWith: MQTTMessage??

    public init() {}

    public func start(will: MQTTMessage, events: @escaping @Sendable (MQTTConnectionEvent) -> Void) throws(IntegrationError) {
        lock.withLock { self.will = will; self.events = events }
    }

    public func publish(_ m: MQTTMessage) -> PublishOutcome {
        lock.withLock {
            guard up else { return .notConnected }
            sent.append(m)
            return .sent
        }
    }

    public func subscribe(_ pattern: String) -> Bool { lock.withLock { subscriptions.append(pattern); return up } }

    public func stop(last: MQTTMessage?) { lock.withLock { if up, let last { sent.append(last) }; stoppedWith = .some(last); up = false } }

    // What the test does.

    public func connect() { lock.withLock { up = true }; emit(.connected) }
    public func drop(_ why: String = "connection lost") { lock.withLock { up = false }; emit(.disconnected(why)) }
    public func acknowledge(_ n: Int = 1) { for _ in 0..<n { emit(.acknowledged) } }
    public func deliver(topic: String, _ text: String, retained: Bool = false) { emit(.message(topic: topic, payload: Array(text.utf8), retained: retained)) }

    public var published: [MQTTMessage] { lock.withLock { sent } }
    public var subscribed: [String] { lock.withLock { subscriptions } }

    private func emit(_ e: MQTTConnectionEvent) { lock.withLock { events }?(e) }
}
