import Audit
import Foundation
import Testing

/// What a publisher or sender recorded into the audit log, as the log would have it.
final class Recorded: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [AuditEvent] = []
    func add(_ e: AuditEvent) { lock.withLock { events.append(e) } }
    var all: [AuditEvent] { lock.withLock { events } }
    func count(_ type: String) -> Int { all.filter { $0.type == type }.count }
}

/// Waits for something another thread does, up to 60 s (a bound on a broken run, never a
/// measure of speed).
func waitFor(_ what: String, _ condition: () -> Bool) async throws {
    for _ in 0..<1200 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
    #expect(condition(), "\(what) did not happen within 60 s")
}
