import Foundation
import GRDB
import WardenCore

/// Where an administrative change's audit event is written. The identity database calls it
/// inside the change's own transaction, after the change and its `adminChange` row: the
/// event must be durable before the change commits, and when it cannot be written the
/// change is rolled back. So a change is never committed without its event.
public protocol ChangeAuditor: Sendable {
    /// Writes the event durably and returns its sequence number in the audit log. Throws
    /// when it cannot (log locked, disk full, log not the one Warden wrote).
    func record(_ change: AdminChange, fields: [String: String]) throws -> Int64
    /// The change was logged at `seq` but its transaction then failed to commit: record that
    /// it never happened, so the log and the database still agree. Best effort: a process
    /// killed in that instant leaves the event alone, which reconciliation reports.
    func rolledBack(_ change: AdminChange, seq: Int64, because error: Error)
}

/// The changes one transaction made, and their audit events.
public final class ChangeJournal {
    let auditor: (any ChangeAuditor)?
    fileprivate(set) var audited: [(AdminChange, Int64)] = []

    init(auditor: (any ChangeAuditor)?) { self.auditor = auditor }

    /// Writes the change's record row, then its audit event, and links the two. `fields`
    /// become the event's detail and, as `key=value` words, the row's detail.
    @discardableResult
    public func record(_ action: String, subject: String, fields: [String: String] = [:], by op: Operator,
                       at now: Date = Date(), in db: Database) throws -> AdminChange {
        let detail = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var change = AdminChange(at: now, operator: op, action: action, subject: subject, detail: detail)
        try change.insert(db)
        if let auditor {
            let seq: Int64
            do { seq = try auditor.record(change, fields: fields) } catch let e as StorageError { throw e } catch {
                throw StorageError.unaudited("\(error)")
            }
            change.auditSeq = seq
            try change.update(db)
            audited.append((change, seq))
        }
        return change
    }
}

/// Runs an administrative change: its rows, its record and its audit event, in one
/// transaction of the identity database.
struct ChangeWriter: Sendable {
    let writer: DatabasePool
    let auditor: (any ChangeAuditor)?

    func write<T>(_ body: (Database, ChangeJournal) throws -> T) throws -> T {
        let journal = ChangeJournal(auditor: auditor)
        do {
            return try writer.write { db in try body(db, journal) }
        } catch {
            // Logged, then not committed (a full disk at commit): say so in the log too.
            for (change, seq) in journal.audited { auditor?.rolledBack(change, seq: seq, because: error) }
            throw error
        }
    }
}
