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
            func broken(_ seq: Int64, _ why: String) -> ChainReport {
                ChainReport(ok: false, count: count, firstBrokenSeq: seq, problem: why, anchorSeq: anchorSeq)
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
                prev = hash
                expectedSeq += 1
                count += 1
            }
            let last = expectedSeq - 1
            if let head = readHead() {
                if head.seq > last {
                    return ChainReport(ok: false, count: count, firstBrokenSeq: last + 1,
                                       problem: "the log ends at row \(last) but row \(head.seq) was written: rows \(last + 1)...\(head.seq) were cut off",
                                       anchorSeq: anchorSeq)
                }
                if head.seq == last, head.hash != prev, last > 0 {
                    return broken(last, "row \(last): differs from the row recorded in the head file")
                }
            }
            return ChainReport(ok: true, count: count, firstBrokenSeq: nil, problem: nil, anchorSeq: anchorSeq)
        }
    }

    /// Moves every row before `date` into a JSONL archive (written and fsynced first), then
    /// deletes them and records the last pruned row as the chain's new anchor, so the rest
    /// still verifies.
    public func prune(before date: Date, archive: String) throws -> (pruned: Int, anchorSeq: Int64) {
        // 1. Archive.
        FileManager.default.createFile(atPath: archive, contents: nil, attributes: [.posixPermissions: 0o600])
        guard let out = FileHandle(forWritingAtPath: archive) else { throw AuditError.invalid("cannot write the archive \(archive)") }
        // The prefix of the chain up to the first row at or after `date`: rows are pruned
        // only as a contiguous prefix, so the remainder still links to the anchor.
        let cutoff: Int64 = try writer.read { db in
            if let firstKept = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM auditEvent WHERE at >= ?", arguments: [AuditTime.utc(date)]) {
                return firstKept - 1
            }
            return try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM auditEvent") ?? 0
        }
        var lastSeq: Int64 = 0, n = 0
        try forEachRow { row, _ in
            guard row.seq <= cutoff else { return }
            let line = "{\"seq\":\(row.seq),\"prevHash\":\"\(row.prevHash)\",\"hash\":\"\(row.hash)\",\"event\":\(row.payload)}\n"
            out.write(Data(line.utf8))
            lastSeq = row.seq; n += 1
        }
        try out.synchronize()
        try out.close()
        guard n > 0 else { try? FileManager.default.removeItem(atPath: archive); return (0, 0) }
        try writer.write { db in
            let hash = try String.fetchOne(db, sql: "SELECT hash FROM auditEvent WHERE seq = ?", arguments: [lastSeq])!
            try db.execute(sql: "DELETE FROM auditEvent WHERE seq <= ?", arguments: [lastSeq])
            try db.execute(sql: "INSERT OR REPLACE INTO auditAnchor (id, seq, hash, prunedAt, archive) VALUES (1, ?, ?, ?, ?)",
                           arguments: [lastSeq, hash, AuditTime.utc(Date()), archive])
        }
        return (n, lastSeq)
    }
}
