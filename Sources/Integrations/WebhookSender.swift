import Audit
import DequeModule
import Crypto
import Foundation
import HTTPClient
import WardenCore

/// One `webhooks:` entry of a site file.
public struct WebhookSettings: Sendable {
    public var url: String
    /// The HMAC-SHA256 key the receiver shares (from `secret_file`).
    public var secret: [UInt8]
    /// A CA (PEM) to trust for an https:// receiver instead of the system's roots.
    public var caPEM: String?
    /// Event types sent, by prefix (`access.`, `door.forced_open`); all but admin by default.
    public var events: [String]
    public var site: String
    public var person: PublishedPerson
    public var queueLimit: Int
    /// Tries per event before it is dropped (and counted).
    public var attempts: Int
    /// The first retry's wait; each next one doubles, to at most a minute.
    public var retryDelay: TimeInterval
    public var timeout: TimeInterval

    public init(url: String, secret: [UInt8], caPEM: String? = nil, events: [String] = ["access.", "door.", "system.", "integration.", "fleet."],
                site: String, person: PublishedPerson = .id, queueLimit: Int = 1000, attempts: Int = 8, retryDelay: TimeInterval = 1, timeout: TimeInterval = 10) {
        self.url = url; self.secret = secret; self.caPEM = caPEM; self.events = events; self.site = site; self.person = person
        self.queueLimit = queueLimit; self.attempts = attempts; self.retryDelay = retryDelay; self.timeout = timeout
    }
}

/// How a receiver checks a delivery: `X-Warden-Signature: t=<unix seconds>,v1=<hex>` where
/// the hex is HMAC-SHA256 over `"<t>.<body>"` with the shared secret. A receiver compares in
/// constant time and refuses a `t` far from its clock, so a captured delivery cannot be
/// replayed later.
public enum WebhookSignature {
    public static let header = "X-Warden-Signature"

    public static func sign(body: [UInt8], timestamp: Int, secret: [UInt8]) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        mac.update(data: Array("\(timestamp).".utf8))
        mac.update(data: body)
        return "t=\(timestamp),v1=" + Hex.encode(Data(mac.finalize()))
    }

    /// Whether `header` signs `body` with `secret`, made within `tolerance` seconds of `now`.
    public static func verify(header: String, body: [UInt8], secret: [UInt8], now: Int, tolerance: Int = 300) -> Bool {
        var t: Int?, v1: String?
        for part in header.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            if kv[0] == "t" { t = Int(kv[1]) } else if kv[0] == "v1" { v1 = kv[1] }
        }
        guard let t, let v1, abs(now - t) <= tolerance else { return false }
        let expected = Array(sign(body: body, timestamp: t, secret: secret).utf8)
        let given = Array("t=\(t),v1=\(v1)".utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// POSTs the committed audit events to one URL, in order, signed, from a thread of its own:
/// `accept` never waits. A failed delivery is retried with back-off (a 4xx other than 408
/// or 429 is final: the receiver will not take it); an event that runs out of tries, or
/// that a full queue pushes out, is dropped and counted. The first failure and the
/// recovery (with the count) go into the audit log.
public final class WebhookSender: EventSink, @unchecked Sendable {
    public let settings: WebhookSettings
    let record: @Sendable (AuditEvent) -> Void
    private let condition = NSCondition()
    private var queue = Deque<AuditEvent>()
    /// The event being tried, out of the queue: a full queue trims waiting events only, so
    /// each event is counted once, delivered or dropped.
    private var sending = false
    private var stopping = false
    private var failingSince: Date?
    private var droppedSinceFailure = 0
    private var delivered = 0
    private var dropped = 0

    /// The URL as logged: without a query or user info, which often carry a token.
    var shownURL: String {
        guard var c = URLComponents(string: settings.url) else { return "(unparsable URL)" }
        c.query = nil; c.user = nil; c.password = nil; c.fragment = nil
        return c.string ?? "(unparsable URL)"
    }

    public init(settings: WebhookSettings, record: @escaping @Sendable (AuditEvent) -> Void) {
        self.settings = settings
        self.record = record
    }

    public struct Counters: Sendable, Equatable { public var queued: Int; public var delivered: Int; public var dropped: Int; public var failing: Bool }
    public var counters: Counters { condition.withLock { Counters(queued: queue.count + (sending ? 1 : 0), delivered: delivered, dropped: dropped, failing: failingSince != nil) } }

    public func start() {
        let t = Thread { self.run() }  // holds self until the loop ends (stop), never past it
        t.name = "warden.webhook"
        t.start()
    }

    public func accept(_ events: [AuditEvent]) {
        let wanted = events.filter { e in e.kind != .admin && settings.events.contains { e.type.hasPrefix($0) } }
        guard !wanted.isEmpty else { return }
        condition.withLock {
            queue.append(contentsOf: wanted)
            // The one being tried counts toward the limit, and is never the one dropped.
            let over = min(queue.count, queue.count + (sending ? 1 : 0) - settings.queueLimit)
            if over > 0 { queue.removeFirst(over); dropped += over; droppedSinceFailure += over }
            condition.broadcast()
        }
    }

    /// Tries what is queued for up to `drain` seconds, then stops.
    public func stop(drain: TimeInterval = 2) {
        let until = Date().addingTimeInterval(drain)
        condition.withLock {
            while !(queue.isEmpty && !sending) && failingSince == nil && Date() < until { _ = condition.wait(until: min(until, Date().addingTimeInterval(0.1))) }
            stopping = true
            condition.broadcast()
        }
    }

    enum Outcome { case delivered, retry(String), refused(String) }

    func deliver(_ e: AuditEvent) -> Outcome {
        let body = EventJSON.encode(e, site: settings.site, person: settings.person)
        let now = Int(Date().timeIntervalSince1970)
        let request = CurlRequest(url: settings.url, body: Data(body), timeoutMilliseconds: Int(settings.timeout * 1000),
                                  trust: settings.caPEM.map { .only(pem: $0) } ?? .system, httpsOnly: false,
                                  headers: [("content-type", "application/json"), ("user-agent", "warden"),
                                            (WebhookSignature.header, WebhookSignature.sign(body: body, timestamp: now, secret: settings.secret)),
                                            ("X-Warden-Event", e.type), ("X-Warden-Delivery", "\(settings.site)/\(e.seq)")])
        switch request.perform() {
        case .success(let r) where (200..<300).contains(r.status): return .delivered
        case .success(let r) where (400..<500).contains(r.status) && r.status != 408 && r.status != 429:
            return .refused("HTTP \(r.status): \(String(decoding: r.body.prefix(200), as: UTF8.self))")
        case .success(let r): return .retry("HTTP \(r.status)")
        case .failure(.setup(let why)), .failure(.transfer(let why)): return .retry(why)
        }
    }

    private func run() {
        while true {
            condition.lock()
            while !stopping && queue.isEmpty { condition.wait() }
            if stopping { condition.unlock(); return }
            let e = queue.removeFirst()
            sending = true
            condition.unlock()
            var delay = settings.retryDelay
            var done = false
            for attempt in 1...max(1, settings.attempts) {
                switch deliver(e) {
                case .delivered:
                    done = true
                    let recovered: (Date, Int)? = condition.withLock {
                        delivered += 1
                        defer { failingSince = nil; droppedSinceFailure = 0 }
                        return failingSince.map { ($0, droppedSinceFailure) }
                    }
                    if let (since, lost) = recovered {
                        record(AuditEvent(kind: .system, type: "integration.webhook_restored",
                                          detail: ["url": shownURL, "dropped": String(lost), "failing_seconds": String(format: "%.0f", Date().timeIntervalSince(since))]))
                    }
                case .refused(let why): done = true; noteFailure(why, dropping: true)
                case .retry(let why):
                    noteFailure(why, dropping: attempt == settings.attempts)
                }
                if done || attempt == settings.attempts { break }
                // Wait, unless stopping.
                let until = Date().addingTimeInterval(delay)
                var stop = false
                condition.withLock { while !stopping && Date() < until { _ = condition.wait(until: until) }; stop = stopping }
                if stop { condition.withLock { sending = false }; return }
                delay = min(60, delay * 2)
            }
            condition.withLock {
                sending = false
                condition.broadcast()
            }
        }
    }

    /// The first failure of an outage is recorded; the rest are counted.
    private func noteFailure(_ why: String, dropping: Bool) {
        let first: Bool = condition.withLock {
            if dropping { dropped += 1; droppedSinceFailure += 1 }
            guard failingSince == nil else { return false }
            failingSince = Date()
            return true
        }
        if first { record(AuditEvent(kind: .system, type: "integration.webhook_failing", detail: ["url": shownURL, "reason": why])) }
    }
}
