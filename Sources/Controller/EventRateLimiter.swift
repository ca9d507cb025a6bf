import Audit
import Foundation

/// Keeps a flood of one kind of event (a chattering contact, a stuck exit button, a noisy
/// reader line) from swamping the audit log, without losing its shape: per door and event
/// type, the first `burst` events in a `window` are written as they come; after that they
/// are held back and counted, and when the flood stops the last one is written carrying
/// `suppressed` (how many were not written) and `burst_started`. Decisions and admin
/// events are never limited.
struct EventRateLimiter {
    var burst: Int
    var window: TimeInterval

    private struct Bucket {
        var windowStart: Date
        var count: Int
        var suppressed: Int
        var last: AuditEvent?
        var firstSuppressedAt: Date?
    }
    private var buckets: [String: Bucket] = [:]

    init(burst: Int = 20, window: TimeInterval = 10) { self.burst = burst; self.window = window }

    static func limited(_ e: AuditEvent) -> Bool { e.kind == .door || (e.kind == .system && (e.type == "reader.rejected" || e.type.hasPrefix("system.camera"))) }

    /// The events to write now for this one (none, it, or it after a flood's summary).
    mutating func admit(_ e: AuditEvent) -> [AuditEvent] {
        guard Self.limited(e) else { return [e] }
        let key = (e.door ?? "") + "|" + e.type
        var b = buckets[key] ?? Bucket(windowStart: e.at, count: 0, suppressed: 0)
        var out: [AuditEvent] = []
        if e.at.timeIntervalSince(b.windowStart) >= window {
            if let summary = Self.summary(b) { out.append(summary) }
            b = Bucket(windowStart: e.at, count: 0, suppressed: 0)
        }
        if b.count < burst {
            b.count += 1
            out.append(e)
        } else {
            b.suppressed += 1
            if b.firstSuppressedAt == nil { b.firstSuppressedAt = e.at }
            b.last = e
        }
        buckets[key] = b
        return out
    }

    /// Summaries of floods whose window has passed (call periodically and at shutdown).
    mutating func flush(now: Date, force: Bool = false) -> [AuditEvent] {
        var out: [AuditEvent] = []
        for (key, b) in buckets where force || now.timeIntervalSince(b.windowStart) >= window {
            if let s = Self.summary(b) { out.append(s) }
            buckets[key] = nil
        }
        return out.sorted { $0.at < $1.at }
    }

    /// The flood's last event, written with how many of its kind were not written
    /// (those between the first `burst` and this one).
    private static func summary(_ b: Bucket) -> AuditEvent? {
        guard b.suppressed > 0, var last = b.last else { return nil }
        var d = last.detail ?? [:]
        d["suppressed"] = String(b.suppressed - 1)
        d["burst_started"] = AuditTime.utc(b.windowStart)
        last.detail = d
        return last
    }
}
