import CMosquitto
import Foundation

/// What the broker link reports.
public enum MQTTConnectionEvent: Sendable, Equatable {
    case connected
    /// The link is down (or was refused); it is tried again by itself.
    case disconnected(String)
    /// A message on a subscribed topic; `retained`: the broker's stored copy, not one just sent.
    case message(topic: String, payload: [UInt8], retained: Bool)
    /// The broker acknowledged a message handed over by `publish`.
    case acknowledged
}

/// The broker link as the publisher uses it (a port): `MosquittoConnection` is the real
/// one, `EmbeddedMQTT` the in-memory one for tests of the publisher.
public protocol MQTTConnection: AnyObject, Sendable {
    /// Starts the link in the background; it reconnects with back-off by itself. `will` is
    /// what the broker publishes if Warden goes away without saying so.
    func start(will: MQTTMessage, events: @escaping @Sendable (MQTTConnectionEvent) -> Void) throws(IntegrationError)
    /// Hands a message to the link.
    func publish(_ m: MQTTMessage) -> PublishOutcome
    func subscribe(_ pattern: String) -> Bool
    /// Publishes `last` if connected, then closes the link.
    func stop(last: MQTTMessage?)
}

public enum PublishOutcome: Sendable, Equatable {
    case sent
    /// Not connected: the caller keeps the message for the next connect.
    case notConnected
    /// The link will never take this one (too large, a bad topic): the caller drops it.
    case rejected(String)
}

public struct IntegrationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// libmosquitto on a thread of its own: connect, then `mosquitto_loop` until stopped,
/// reconnecting with exponential back-off (1 s doubling to 60 s) on any failure, including
/// a refused login or a TLS error, which libmosquitto's own loop thread would give up on.
public final class MosquittoConnection: MQTTConnection, @unchecked Sendable {
    let settings: MQTTSettings
    private let lock = NSLock()
    private var mosq: OpaquePointer?
    private var running = false
    private var connected = false
    private var events: (@Sendable (MQTTConnectionEvent) -> Void)?
    private let finished = DispatchSemaphore(value: 0)

    private static let initialised: Void = { mosquitto_lib_init(); return () }()

    public init(settings: MQTTSettings) { self.settings = settings }

    public func start(will: MQTTMessage, events: @escaping @Sendable (MQTTConnectionEvent) -> Void) throws(IntegrationError) {
        _ = Self.initialised
        guard let m = mosquitto_new(settings.clientID, true, Unmanaged.passUnretained(self).toOpaque()) else {
            throw IntegrationError("mqtt: cannot create a client (\(String(cString: strerror(errno))))")
        }
        mosq = m
        self.events = events
        func check(_ rc: Int32, _ what: String) throws(IntegrationError) {
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw IntegrationError("mqtt: \(what): \(String(cString: mosquitto_strerror(rc)))") }
        }
        try check(mosquitto_threaded_set(m, true), "threading")
        try check(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, settings.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311), "protocol version")
        if let user = settings.username { try check(mosquitto_username_pw_set(m, user, settings.password), "username and password") }
        if let tls = settings.tls {
            for f in [tls.caFile, tls.certFile, tls.keyFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: f) {
                throw IntegrationError("mqtt: cannot read \(f)")
            }
            try check(mosquitto_tls_set(m, tls.caFile, nil, tls.certFile, tls.keyFile, nil), "TLS files (\(tls.caFile))")
            // Peer verification on, the broker's name checked against its certificate.
            try check(mosquitto_tls_opts_set(m, 1, "tlsv1.2", nil), "TLS options")
            try check(mosquitto_tls_insecure_set(m, false), "TLS name check")
        }
        try check(will.payload.withUnsafeBytes { mosquitto_will_set(m, will.topic, Int32($0.count), $0.baseAddress, will.qos, will.retain) }, "last will")
        mosquitto_connect_callback_set(m) { _, obj, rc in
            let me = Unmanaged<MosquittoConnection>.fromOpaque(obj!).takeUnretainedValue()
            if rc == 0 { me.setConnected(true); me.events?(.connected) } else { me.events?(.disconnected("the broker refused: \(String(cString: mosquitto_connack_string(rc)))")) }
        }
        mosquitto_message_callback_set(m) { _, obj, msg in
            guard let obj, let msg, let topic = msg.pointee.topic else { return }
            let me = Unmanaged<MosquittoConnection>.fromOpaque(obj).takeUnretainedValue()
            let bytes = msg.pointee.payload.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: Int(msg.pointee.payloadlen))) } ?? []
            me.events?(.message(topic: String(cString: topic), payload: bytes, retained: msg.pointee.retain))
        }
        mosquitto_publish_callback_set(m) { _, obj, _ in
            Unmanaged<MosquittoConnection>.fromOpaque(obj!).takeUnretainedValue().events?(.acknowledged)
        }
        running = true
        let t = Thread { self.loop() }  // holds self until the loop ends (stop), never past it
        t.name = "warden.mqtt"
        t.start()
    }

    private func setConnected(_ v: Bool) { lock.withLock { connected = v } }
    private var isRunning: Bool { lock.withLock { running } }

    private func loop() {
        defer { finished.signal() }
        guard let m = mosq else { return }
        var delay: Double = 1
        var first = true
        while isRunning {
            let rc = first ? mosquitto_connect(m, settings.host, Int32(settings.port), Int32(settings.keepAlive)) : mosquitto_reconnect(m)
            first = false
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                var r = MOSQ_ERR_SUCCESS.rawValue
                while isRunning && r == MOSQ_ERR_SUCCESS.rawValue { r = mosquitto_loop(m, 500, 1) }
                if !isRunning { return }
                let wasUp = lock.withLock { let c = connected; connected = false; return c }
                if wasUp { delay = 1 }
                events?(.disconnected(String(cString: mosquitto_strerror(r)) + (r == MOSQ_ERR_ERRNO.rawValue ? ": \(String(cString: strerror(errno)))" : "")))
            } else {
                events?(.disconnected("cannot connect to \(settings.host):\(settings.port): " + String(cString: mosquitto_strerror(rc))
                                      + (rc == MOSQ_ERR_ERRNO.rawValue ? " (\(String(cString: strerror(errno))))" : "")))
            }
            // Back off, waking early when stopped.
            let until = Date().addingTimeInterval(delay)
            while isRunning && Date() < until { Thread.sleep(forTimeInterval: 0.1) }
            delay = min(60, delay * 2)
        }
    }

    public func publish(_ msg: MQTTMessage) -> PublishOutcome {
        guard let m = mosq, lock.withLock({ connected }) else { return .notConnected }
        let rc = msg.payload.withUnsafeBytes { mosquitto_publish(m, nil, msg.topic, Int32($0.count), $0.baseAddress, msg.qos, msg.retain) }
        switch rc {
        case MOSQ_ERR_SUCCESS.rawValue: return .sent
        case MOSQ_ERR_NO_CONN.rawValue, MOSQ_ERR_CONN_LOST.rawValue, MOSQ_ERR_ERRNO.rawValue, MOSQ_ERR_NOMEM.rawValue: return .notConnected
        default: return .rejected(String(cString: mosquitto_strerror(rc)))
        }
    }

    public func subscribe(_ pattern: String) -> Bool {
        guard let m = mosq, lock.withLock({ connected }) else { return false }
        return mosquitto_subscribe(m, nil, pattern, 1) == MOSQ_ERR_SUCCESS.rawValue
    }

    public func stop(last: MQTTMessage?) {
        guard let m = mosq else { return }
        if let last, lock.withLock({ connected }) {
            _ = publish(last) as PublishOutcome
            // Give the loop a moment to write it before the link closes.
            Thread.sleep(forTimeInterval: 0.2)
        }
        let wasRunning = lock.withLock { let r = running; running = false; return r }
        if wasRunning { finished.wait() }
        mosquitto_disconnect(m)
        mosquitto_destroy(m)
        mosq = nil
    }
}
