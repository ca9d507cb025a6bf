import Foundation

/// Whether events are reaching the disk.
public enum AuditLogState: Sendable, Equatable {
    case ok
    /// Writes are failing (disk full, database locked or corrupt). Events wait in memory,
    /// up to the ring's capacity, and are written when the disk recovers.
    case degraded(reason: String, since: Date, pending: Int)
}

/// The audit writer. A door never waits on the disk: `record` only enqueues. A background
/// thread commits queued events in small transactions. When writes fail the log goes
/// degraded, keeps events in a bounded ring (dropping the oldest and counting them if it
/// overflows), retries, and on recovery writes what it kept plus events that say how long
/// the log was degraded and how many events were lost.
public final class AuditLog: @unchecked Sendable {
    public let store: AuditStore
    public let capacity: Int
    public let batchSize: Int
    public let retryInterval: TimeInterval

    private let condition = NSCondition()
    private var queue: [AuditEvent] = []
    private var dropped = 0
    private var stateValue: AuditLogState = .ok
    private var writing = 0
    /// True while `onCommit` runs for a committed batch: flush waits for it, so an
    /// acknowledgement is never still in flight when flush returns.
    private var acknowledging = false
    private var stopping = false
    private let onCommit: (@Sendable ([AuditEvent]) -> Void)?

    /// `onCommit` is called on the writer thread after each committed transaction, with the
    /// events and their sequence numbers: the acknowledgement that they are on disk.
    public init(store: AuditStore, capacity: Int = 10_000, batchSize: Int = 256, retryInterval: TimeInterval = 1,
                onCommit: (@Sendable ([AuditEvent]) -> Void)? = nil) {
        self.store = store
        self.capacity = capacity
        self.batchSize = batchSize
        self.retryInterval = retryInterval
        self.onCommit = onCommit
        // Holds self until the writer ends (close), so a log dropped unclosed cannot be read freed.
        let t = Thread { self.run() }
        t.name = "warden.audit-writer"
        t.start()
    }

    public var state: AuditLogState { condition.lock(); defer { condition.unlock() }; return stateValue }

    /// Events queued and not yet committed.
    public var pendingCount: Int { condition.lock(); defer { condition.unlock() }; return queue.count }

    /// Queues an event without waiting. Returns false when the ring was full and the oldest
    /// queued event was dropped to make room.
    @discardableResult
    public func record(_ event: AuditEvent) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        var kept = true
        if queue.count >= capacity {
            // Drop the oldest event that is not being written right now.
            queue.remove(at: min(writing, queue.count - 1))
            dropped += 1
            kept = false
        }
        queue.append(event)
        condition.broadcast()
        return kept
    }

    /// Waits until everything queued so far is committed, or until `timeout` (the writer
    /// keeps retrying meanwhile if the log is degraded). Returns whether everything was
    /// committed. Shutdown calls this; a door decision never does.
    @discardableResult
    public func flush(timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !queue.isEmpty || writing > 0 || acknowledging {
            if !condition.wait(until: deadline) { return queue.isEmpty && writing == 0 && !acknowledging }
        }
        return true
    }

    /// Flushes and stops the writer thread.
    public func close(timeout: TimeInterval = 10) {
        flush(timeout: timeout)
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping { condition.unlock(); return }
            var batch = Array(queue.prefix(batchSize))
            writing = batch.count
            let lost = dropped
            var recovering: (String, Date)? = nil
            if case .degraded(let reason, let since, _) = stateValue { recovering = (reason, since) }
            condition.unlock()

            // Coming back from a degraded spell: say so in the log itself.
            var extra: [AuditEvent] = []
            if let (reason, since) = recovering {
                extra.append(AuditEvent(at: since, kind: .system, type: "system.log_degraded", detail: ["reason": reason]))
                var detail = ["degraded_since": AuditTime.utc(since)]
                if lost > 0 { detail["events_lost"] = String(lost) }
                extra.append(AuditEvent(kind: .system, type: "system.log_recovered", detail: detail))
            }
            do {
                let written = try store.append(extra + batch)
                condition.lock()
                queue.removeFirst(min(batch.count, queue.count))
                if recovering != nil { dropped -= lost }
                stateValue = .ok
                writing = 0
                acknowledging = true
                condition.unlock()
                onCommit?(written)
                condition.lock()
                acknowledging = false
                condition.broadcast()
                condition.unlock()
            } catch {
                condition.lock()
                writing = 0
                let since: Date
                if case .degraded(_, let s, _) = stateValue { since = s } else { since = Date() }
                stateValue = .degraded(reason: Self.describe(error), since: since, pending: queue.count)
                condition.broadcast()
                let stop = stopping
                condition.unlock()
                if stop { return }
                Thread.sleep(forTimeInterval: retryInterval)
            }
            batch.removeAll()
        }
    }

    static func describe(_ error: Error) -> String {
        let text = "\(error)"
        if text.contains("SQLITE_FULL") || text.contains("full") { return "disk full: \(text)" }
        if text.contains("SQLITE_BUSY") || text.contains("locked") { return "database locked: \(text)" }
        if text.contains("SQLITE_CORRUPT") || text.contains("SQLITE_NOTADB") { return "database corrupt: \(text)" }
        return text
    }
}
