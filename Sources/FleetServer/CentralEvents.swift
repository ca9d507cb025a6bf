import Audit
import FleetProtocol
import Foundation
import PostgresNIO

extension CentralStore {
    /// Stores a batch of a controller's rows, checking each link of its chain as it lands.
    /// Rows at or below the high-water mark are duplicates of a retry: accepted again only
    /// if identical (a row changed after upload is refused). A gap is refused with the
    /// high-water mark, so the controller resumes right after it.
    public func ingest(_ batch: EventBatch, from controller: ControllerRow, now: Date = Date()) async throws -> EventAck {
        try await transaction { conn in
            guard let (hw, lastHash) = try await self.one(conn.query("SELECT high_water, last_hash FROM controller WHERE id = \(controller.id) FOR UPDATE", logger: self.logger), (Int64, String?).self) else {
                throw CentralError.forbidden("controller '\(controller.name)' is unknown")
            }
            var seq = hw, prev = lastHash
            var fresh: [(AuditRow, AuditEvent)] = []
            // Rows already stored (a retry after a lost ack, or a board that restarted before
            // it learnt the mark): their stored hashes, in one query.
            var stored: [Int64: String] = [:]
            let old = batch.rows.map(\.seq).filter { $0 <= hw }
            if let lo = old.min(), let hi = old.max() {
                let rows = try await conn.query("SELECT seq, hash FROM event WHERE controller_id = \(controller.id) AND seq BETWEEN \(lo) AND \(hi)", logger: self.logger)
                for try await (s, h) in rows.decode((Int64, String).self) { stored[s] = h }
            }
            for wire in batch.rows {
                let row = AuditRow(seq: wire.seq, payload: wire.payload, prevHash: wire.prevHash, hash: wire.hash)
                if row.seq <= seq {
                    // A retry of rows already stored: they must be the same rows.
                    if let stored = stored[row.seq], stored != row.hash {
                        throw CentralError.conflict("row \(row.seq) of '\(controller.name)' differs from the one stored at upload: the controller's log was changed after upload")
                    }
                    continue
                }
                guard row.seq == seq + 1 else {
                    throw UploadGap(highWater: seq, message: "row \(row.seq) of '\(controller.name)' does not follow the stored high-water mark \(seq): resume after \(seq)")
                }
                let event: AuditEvent
                switch AuditChain.checked(row) {
                case .success(let e): event = e
                case .failure(let problem): throw CentralError.invalid("'\(controller.name)' \(problem)")
                }
                // The first row stored may chain to an anchor (a log pruned before joining);
                // every later one to the row before it.
                if let prev, row.prevHash != prev {
                    throw CentralError.invalid("row \(row.seq) of '\(controller.name)' does not chain to row \(seq) stored earlier: rows were changed or removed")
                }
                fresh.append((row, event))
                seq = row.seq; prev = row.hash
            }
            try await self.insertRows(fresh, controller: controller.id, conn, now: now)
            if !fresh.isEmpty {
                try await conn.query("UPDATE controller SET high_water = \(seq), last_hash = \(prev), last_seen = \(now) WHERE id = \(controller.id)", logger: self.logger)
            }
            return EventAck(highWater: seq, accepted: fresh.count)
        }
    }

    /// Inserts rows with one statement per thousand (unnest of arrays), so ingest keeps up
    /// with a fleet.
    func insertRows(_ rows: [(AuditRow, AuditEvent)], controller: Int64, _ conn: PostgresConnection, now: Date = Date()) async throws {
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + 1000)]
            start += chunk.count
            var seqs: [Int64] = [], ats: [Date] = [], types: [String] = [], doors: [String] = [], persons: [Int64] = [], results: [String] = []
            var payloads: [String] = [], prevs: [String] = [], hashes: [String] = []
            for (r, e) in chunk {
                seqs.append(r.seq); ats.append(e.at); types.append(e.type); doors.append(e.door ?? ""); persons.append(e.personID ?? 0); results.append(e.result ?? "")
                payloads.append(r.payload); prevs.append(r.prevHash); hashes.append(r.hash)
            }
            try await conn.query("""
                INSERT INTO event (controller_id, seq, at, type, door, person_id, result, payload, prev_hash, hash, received_at)
                SELECT \(controller), s, a, t, NULLIF(d, ''), NULLIF(p, 0), NULLIF(r, ''), pl, ph, h, \(now)
                FROM unnest(\(seqs)::bigint[], \(ats)::timestamptz[], \(types)::text[], \(doors)::text[],
                            \(persons)::bigint[], \(results)::text[], \(payloads)::text[], \(prevs)::text[], \(hashes)::text[]) AS u(s, a, t, d, p, r, pl, ph, h)
                """, logger: logger)
        }
    }

    /// Every controller's chain, checked row by row as stored: gaps, broken links, rows
    /// whose hash no longer matches (changed after upload), and controllers silent longer
    /// than `silentAfter`.
    public func verifyChains(silentAfter: TimeInterval = 3600, now: Date = Date()) async throws -> [CentralChainReport] {
        var out: [CentralChainReport] = []
        var controllers = try await self.controllers()
        controllers.insert(ControllerRow(id: 0, name: "@server", status: "server", appliedRevision: 0, bufferedEvents: 0, doors: [], highWater: 0), at: 0)
        for c in controllers {
            var report = CentralChainReport(controller: c.name, lastSeen: c.lastSeen)
            var expected: Int64? = nil, prev: String? = nil
            let rows = try await client.query("SELECT seq, payload, prev_hash, hash FROM event WHERE controller_id = \(c.id) ORDER BY seq", logger: logger)
            for try await (seq, payload, prevHash, hash) in rows.decode((Int64, String, String, String).self) {
                let row = AuditRow(seq: seq, payload: payload, prevHash: prevHash, hash: hash)
                report.rows += 1
                if let e = expected, seq != e { report.problems.append("rows \(e)-\(seq - 1) are missing") }
                if let p = prev, seq == (expected ?? seq), prevHash != p { report.problems.append("row \(seq) does not chain to row \(seq - 1)") }
                if let problem = AuditChain.problem(with: row) { report.problems.append(problem) }
                expected = seq + 1; prev = hash
                report.highWater = seq
            }
            if c.id != 0, c.status == "active" {
                let seen = c.lastSeen ?? c.joinedAt
                if let seen, now.timeIntervalSince(seen) > silentAfter {
                    report.silentSeconds = now.timeIntervalSince(seen)
                    report.problems.append("silent for \(Int(now.timeIntervalSince(seen))) s (last seen \(AuditTime.utc(seen)))")
                }
            }
            out.append(report)
        }
        return out
    }

    /// Stored rows in order, per controller then sequence, filtered; streamed to `body`.
    public func forEachEvent(controller: String? = nil, door: String? = nil, personID: Int64? = nil, from: Date? = nil, to: Date? = nil,
                             _ body: (String, AuditRow) throws -> Void) async throws {
        try await forEachEvent(AuditQuery(controller: controller, door: door, personID: personID, from: from, to: to), body)
    }

    /// Stored rows that `q` selects: in order per controller then sequence, or the newest
    /// first (at most `q.limit`) when `q.newestFirst`.
    public func forEachEvent(_ q: AuditQuery, _ body: (String, AuditRow) throws -> Void) async throws {
        let (controller, door, personID, from, to) = (q.controller, q.door, q.personID, q.from, q.to)
        try PeerInput.check(from, "from")
        try PeerInput.check(to, "to")
        let type = q.typePrefix.map { $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%" }
        let filter: PostgresQuery = """
            SELECT c.name, e.seq, e.payload, e.prev_hash, e.hash FROM event e JOIN controller c ON c.id = e.controller_id
            WHERE (\(controller)::text IS NULL OR c.name = \(controller)) AND (\(door)::text IS NULL OR e.door = \(door))
              AND (\(personID)::bigint IS NULL OR e.person_id = \(personID)) AND (\(from)::timestamptz IS NULL OR e.at >= \(from))
              AND (\(to)::timestamptz IS NULL OR e.at < \(to)) AND (\(type)::text IS NULL OR e.type LIKE \(type))
            """
        var query = filter
        query.sql += q.newestFirst ? " ORDER BY e.at DESC, e.arrival DESC LIMIT \(max(0, q.limit))" : " ORDER BY c.name, e.seq"
        let rows = try await client.query(query, logger: logger)
        for try await (name, seq, payload, prev, hash) in rows.decode((String, Int64, String, String, String).self) {
            try body(name, AuditRow(seq: seq, payload: payload, prevHash: prev, hash: hash))
        }
    }
}

/// Which of the central log's rows an export or a page shows.
public struct AuditQuery: Sendable, Equatable {
    public var controller: String?
    public var door: String?
    public var personID: Int64?
    public var from: Date?
    public var to: Date?
    /// `access.`, `door.`, `admin.person_`: the event types that begin so.
    public var typePrefix: String?
    public var newestFirst = false
    public var limit = Int.max
    public init(controller: String? = nil, door: String? = nil, personID: Int64? = nil, from: Date? = nil, to: Date? = nil, typePrefix: String? = nil) {
        self.controller = controller; self.door = door; self.personID = personID; self.from = from; self.to = to; self.typePrefix = typePrefix
    }
}

/// An upload that does not start right after the stored high-water mark.
public struct UploadGap: Error, CustomStringConvertible, Sendable {
    public let highWater: Int64
    public let message: String
    public var description: String { message }
}
