import Foundation
import GRDB

/// The outcome of recomputing the chain.
public struct ChainReport: Sendable, Equatable, Codable {
    public let ok: Bool
    /// Rows checked.
    public let count: Int
    /// The first row found broken (its seq), when not ok.
    public let firstBrokenSeq: Int64?
    public let problem: String?
    /// Where the chain started: 0, or the last pruned seq.
    public let anchorSeq: Int64
    /// Discontinuities an operator acknowledged (`warden audit acknowledge`), one line each:
    /// the loss stays on the record after the chain carries on.
    public var acknowledged: [String] = []

    public init(ok: Bool, count: Int, firstBrokenSeq: Int64?, problem: String?, anchorSeq: Int64, acknowledged: [String] = []) {
        self.ok = ok; self.count = count; self.firstBrokenSeq = firstBrokenSeq; self.problem = problem
        self.anchorSeq = anchorSeq; self.acknowledged = acknowledged
    }
}

extension AuditStore {
    /// Recomputes every hash from the stored payloads, checks each link and sequence number,
    /// checks the indexed columns against the hashed payload, and checks the end of the log
    /// against the head file. Reports the first problem.
    public func verify() throws -> ChainReport {
        try writer.read { db in
            var expectedSeq: Int64 = 1
            var prev = Self.genesisHash
            var anchorSeq: Int64 = 0
            if let a = try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditAnchor WHERE id = 1") {
                anchorSeq = a["seq"]; expectedSeq = anchorSeq + 1; prev = a["hash"]
            }
            var count = 0
            var acknowledged: [String] = []
            func broken(_ seq: Int64, _ why: String) -> ChainReport {
                ChainReport(ok: false, count: count, firstBrokenSeq: seq, problem: why, anchorSeq: anchorSeq, acknowledged: acknowledged)
            }
            let cursor = try Row.fetchCursor(db, sql: "SELECT seq, at, kind, type, door, personID, result, payload, prevHash, hash FROM auditEvent ORDER BY seq")
            while let row = try cursor.next() {
                let seq: Int64 = row["seq"]
                let payload: String = row["payload"]
                if seq != expectedSeq {
                    return broken(seq, seq > expectedSeq
                        ? "row \(seq): expected row \(expectedSeq) next; rows \(expectedSeq)...\(seq - 1) were deleted"
                        : "row \(seq): out of order after row \(expectedSeq - 1)")
                }
                if (row["prevHash"] as String) != prev { return broken(seq, "row \(seq): does not link to row \(seq - 1) (rows deleted, reordered or replaced)") }
                let hash = Self.chainHash(prev: prev, payload: payload)
                if (row["hash"] as String) != hash { return broken(seq, "row \(seq): content does not match its hash (edited after it was written)") }
                guard let e = try? CanonicalEncoding.decode(payload) else { return broken(seq, "row \(seq): payload is not a readable event") }
                if e.seq != seq { return broken(seq, "row \(seq): payload says it is row \(e.seq) (rows reordered)") }
                let columnsMatch = (row["at"] as String) == AuditTime.utc(e.at) && (row["kind"] as String) == e.kind.rawValue
                    && (row["type"] as String) == e.type && (row["door"] as String?) == e.door
                    && (row["personID"] as Int64?) == e.personID && (row["result"] as String?) == e.result
                if !columnsMatch { return broken(seq, "row \(seq): a column was edited and no longer matches the hashed event") }
                if e.type == Self.acknowledgementType {
                    acknowledged.append("row \(seq): \(e.operator ?? "?") acknowledged at \(AuditTime.utc(e.at)) that \(e.detail?["problem"] ?? "?") (reason: \(e.detail?["reason"] ?? "-"))")
                }
                prev = hash
                expectedSeq += 1
                count += 1
            }
            let last = expectedSeq - 1
            if let problem = try headProblem(db) {
                return ChainReport(ok: false, count: count, firstBrokenSeq: last + 1, problem: problem, anchorSeq: anchorSeq, acknowledged: acknowledged)
            }
            return ChainReport(ok: true, count: count, firstBrokenSeq: nil, problem: nil, anchorSeq: anchorSeq, acknowledged: acknowledged)
        }
    }

    /// Moves every row before `date` into a JSONL archive (written and fsynced first), then
    /// deletes them and records the last pruned row as the chain's new anchor, so the rest
    /// still verifies. `recording` makes the event that records the prune; it is appended in
    /// the same transaction as the deletion, so a prune is never made without its record.
    /// `keepingAfter`: rows after this seq stay whatever their date (a fleet controller's
    /// rows the server has not acknowledged).
    public func prune(before date: Date, archive: String, keepingAfter keep: Int64 = .max,
                      recording: (_ pruned: Int, _ anchorSeq: Int64) -> AuditEvent) throws -> (pruned: Int, anchorSeq: Int64) {
        if let problem = try writer.read({ try headProblem($0) }) { throw AuditError.discontinuity(problem) }
        // 1. Archive: whole or not at all, so a full disk never leaves a partial archive
        // behind rows that were then deleted.
        let out = try AtomicFile(path: archive)
        // The prefix of the chain up to the first row at or after `date`: rows are pruned
        // only as a contiguous prefix, so the remainder still links to the anchor.
        let cutoff: Int64 = min(keep, try writer.read { db in
            if let firstKept = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM auditEvent WHERE at >= ?", arguments: [AuditTime.utc(date)]) {
                return firstKept - 1
            }
            return try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM auditEvent") ?? 0
        })
        var lastSeq: Int64 = 0, n = 0
        try forEachRow { row, _ in
            guard row.seq <= cutoff else { return }
            try out.write("{\"seq\":\(row.seq),\"prevHash\":\"\(row.prevHash)\",\"hash\":\"\(row.hash)\",\"event\":\(row.payload)}\n")
            lastSeq = row.seq; n += 1
        }
        guard n > 0 else { out.abandon(); return (0, 0) }
        try out.commit()
        let pruned = n, anchor = lastSeq
        do {
            try writer.write { db in
                if let problem = try headProblem(db) { throw AuditError.discontinuity(problem) }
                let hash = try String.fetchOne(db, sql: "SELECT hash FROM auditEvent WHERE seq = ?", arguments: [anchor])!
                try db.execute(sql: "DELETE FROM auditEvent WHERE seq <= ?", arguments: [anchor])
                try db.execute(sql: "INSERT OR REPLACE INTO auditAnchor (id, seq, hash, prunedAt, archive) VALUES (1, ?, ?, ?, ?)",
                               arguments: [anchor, hash, AuditTime.utc(Date()), archive])
                _ = try insert([recording(pruned, anchor)], db)
            }
        } catch {
            // Nothing was deleted: the archive would only duplicate rows still in the log.
            unlink(archive)
            throw error
        }
        try updateHead()
        return (n, lastSeq)
    }
}
