import Audit
import Foundation
import PostgresNIO
import WardenCore

/// The change feed's identity. Revisions are counted in the database, so a database
/// restored from a backup hands the same numbers out again for other changes: a board at
/// revision 8 would take the restored database's new revision 8 as one it already holds,
/// and keep a revoked badge. Every change set carries the feed's id; a board that sees a
/// new id takes a fresh snapshot.
///
/// The id is the database's own (its OID, new for a database created and restored into)
/// joined to a random `feed_id` kept in `feed_state`. A restore in place keeps both, so the
/// server also remembers, in its home and in memory, the highest revision it ever handed
/// out; a database whose revision is below it was rewound, and gets a new `feed_id` before
/// the first revision is handed out again. A board asking for changes after a revision the
/// database never reached says the same.
package final class FeedWatermark: @unchecked Sendable {
    let path: String?
    private let lock = NSLock()
    private var highest: Int64

    /// `path` nil: in memory only (commands that only read).
    init(path: String?) {
        self.path = path
        highest = path.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    }

    var value: Int64 { lock.withLock { highest } }

    func raise(to revision: Int64) {
        let write: Bool = lock.withLock {
            guard revision > highest else { return false }
            highest = revision
            return true
        }
        if write, let path { try? String(revision).write(toFile: path, atomically: true, encoding: .utf8) }
    }

    /// After a rewind the database's revision is the truth again.
    func reset(to revision: Int64) {
        lock.withLock { highest = revision }
        if let path { try? String(revision).write(toFile: path, atomically: true, encoding: .utf8) }
    }
}

extension CentralStore {
    /// The feed's id as boards see it.
    public func feedIdentity() async throws -> String {
        guard let (feed, oid) = try await one(client.query("""
            SELECT f.feed_id, d.oid::bigint FROM feed_state f, pg_database d WHERE f.id = 1 AND d.datname = current_database()
            """, logger: logger), (String?, Int64).self) else { throw CentralError.database("the central database has no feed state; was it migrated?") }
        return "\(oid)-\(feed ?? "none")"
    }

    /// Checks, under the change lock, that the database has not been rewound below a
    /// revision this server handed out (or a board holds: `claimed`); if it was, the feed
    /// gets a new id, audited, and the watermark starts again from the database's revision.
    /// Returns true when it rotated the id.
    @discardableResult
    package func checkRewind(claimed: Int64 = 0, now: Date = Date()) async throws -> Bool {
        let rotated = try await transaction { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(Locks.changes))", logger: self.logger)
            let current = try await self.one(conn.query("SELECT current_revision FROM feed_state WHERE id = 1", logger: self.logger), Int64.self) ?? Int64(0)
            let known = max(self.watermark.value, claimed)
            guard current < known else { return false }
            try await conn.query("UPDATE feed_state SET feed_id = md5(random()::text || clock_timestamp()::text) WHERE id = 1",
                                 logger: self.logger)
            let cause = claimed > self.watermark.value ? "a controller holds a later revision" : "this server handed out a later revision"
            try await self.appendServerEvents([AuditEvent.admin("admin.feed_rewound", operator: "@server", subject: "feed",
                                                                detail: ["database_revision": String(current), "highest_handed_out": String(known), "cause": cause],
                                                                at: now)], conn)
            self.logger.warning("the central database is at revision \(current), below revision \(known) handed out before (restored from a backup?): the change feed has a new id, and every board will take a fresh snapshot")
            return true
        }
        // The database's revisions are the truth again; the next change raises the mark.
        if rotated { watermark.reset(to: 0) }
        return rotated
    }
}
