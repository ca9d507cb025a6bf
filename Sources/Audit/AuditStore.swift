import Crypto
import Foundation
import GRDB

public enum AuditError: Error, CustomStringConvertible, Sendable {
    case cannotOpen(String, String)
    case newerSchema(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let why): return "cannot open the audit log \(p): \(why)"
        case .newerSchema(let p): return "\(p) was written by a newer Warden; upgrade Warden to read it"
        case .invalid(let s): return s
        }
    }
}

/// A stored row: the canonical payload and its place in the hash chain.
public struct AuditRow: Sendable, Equatable {
    public let seq: Int64
    public let payload: String
    public let prevHash: String
    public let hash: String
}

/// The audit log on disk: `<home>/audit.sqlite`, append-only, hash-chained, plus a head file
/// `<home>/audit.head` that remembers the last row written so a cut-off tail is detected.
public final class AuditStore: Sendable {
    public let path: String
    public let headPath: String
    let writer: DatabasePool

    public static let fileName = "audit.sqlite"
    public static let genesisHash = String(repeating: "0", count: 64)

    /// `maxPageCount` caps the file's size in pages (tests use it to simulate a full disk).
    public init(path: String, maxPageCount: Int? = nil) throws {
        self.path = path
        self.headPath = (path as NSString).deletingPathExtension + ".head"
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            let dir = (path as NSString).deletingLastPathComponent
            try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard fm.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw AuditError.cannotOpen(path, "cannot create the file")
            }
        }
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // Survive power loss, not just a crash: each commit is fsynced. Appends are
            // batched, so this costs one fsync per batch.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            if let maxPageCount { try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)") }
        }
        do { writer = try DatabasePool(path: path, configuration: config) } catch {
            throw AuditError.cannotOpen(path, "\(error)")
        }
        var m = DatabaseMigrator()
        m.registerMigration("v1-audit") { db in
            try db.execute(sql: """
                CREATE TABLE auditEvent (
                    seq INTEGER PRIMARY KEY,
                    at TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    type TEXT NOT NULL,
                    door TEXT,
                    personID INTEGER,
                    result TEXT,
                    payload TEXT NOT NULL,
                    prevHash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX auditEvent_at ON auditEvent(at);
                CREATE INDEX auditEvent_door ON auditEvent(door, at);
                -- After a prune: the last pruned row, which the first remaining row chains to.
                CREATE TABLE auditAnchor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL,
                                          prunedAt TEXT NOT NULL, archive TEXT NOT NULL);
                """)
        }
        let unknown = try writer.read { try m.appliedIdentifiers($0).subtracting(m.migrations) }
        guard unknown.isEmpty else { throw AuditError.newerSchema(path) }
        try m.migrate(writer)
    }

    public convenience init(home: String, maxPageCount: Int? = nil) throws {
        try self.init(path: (home as NSString).appendingPathComponent(Self.fileName), maxPageCount: maxPageCount)
    }

    /// Changes the size cap of the writing connection (tests: a disk that fills, then frees).
    public func setMaxPageCount(_ pages: Int) throws {
        try writer.writeWithoutTransaction { try $0.execute(sql: "PRAGMA max_page_count = \(pages)") }
    }

    static func chainHash(prev: String, payload: String) -> String {
        var h = SHA256()
        h.update(data: Data(prev.utf8))
        h.update(data: Data([0x0A]))
        h.update(data: Data(payload.utf8))
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Appends events in one transaction, chaining each to the one before, and returns them
    /// with their sequence numbers. Safe against other processes appending at the same time:
    /// the chain tail is read inside the write transaction.
    @discardableResult
    public func append(_ events: [AuditEvent]) throws -> [AuditEvent] {
        guard !events.isEmpty else { return [] }
        let written: [AuditEvent] = try writer.write { db in
            var (seq, prev) = try tail(db)
            var out: [AuditEvent] = []
            let encoder = CanonicalEncoding.makeEncoder()
            for var e in events {
                seq += 1
                e.seq = seq
                let payload = try CanonicalEncoding.encode(e, with: encoder)
                let hash = Self.chainHash(prev: prev, payload: payload)
                try db.execute(sql: """
                    INSERT INTO auditEvent (seq, at, kind, type, door, personID, result, payload, prevHash, hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [seq, AuditTime.utc(e.at), e.kind.rawValue, e.type, e.door, e.personID, e.result, payload, prev, hash])
                prev = hash
                out.append(e)
            }
            return out
        }
        try updateHead()
        return written
    }

    /// Last seq and hash: the newest row, else the prune anchor, else the genesis.
    private func tail(_ db: Database) throws -> (Int64, String) {
        if let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditEvent ORDER BY seq DESC LIMIT 1") {
            return (row["seq"], row["hash"])
        }
        if let a = try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditAnchor WHERE id = 1") { return (a["seq"], a["hash"]) }
        return (0, Self.genesisHash)
    }

    // MARK: Head file

    struct Head: Codable, Equatable { var seq: Int64; var hash: String }

    /// Moves the head forward to the newest committed row. Never backward, so two
    /// processes racing leave the later head.
    private func updateHead() throws {
        let lockPath = headPath + ".lock"
        let fd = open(lockPath, O_CREAT | O_RDWR, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        let (seq, hash) = try writer.read { try tail($0) }
        if let current = readHead(), current.seq >= seq { return }
        let data = try JSONEncoder().encode(Head(seq: seq, hash: hash))
        let tmp = headPath + ".tmp"
        FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600])
        if let h = FileHandle(forWritingAtPath: tmp) { try? h.synchronize(); try? h.close() }
        _ = rename(tmp, headPath)
    }

    func readHead() -> Head? {
        guard let data = FileManager.default.contents(atPath: headPath) else { return nil }
        return try? JSONDecoder().decode(Head.self, from: data)
    }

    // MARK: Reading

    public func count() throws -> Int { try writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM auditEvent") ?? 0 } }

    public func lastSeq() throws -> Int64 { try writer.read { try tail($0).0 } }

    /// Rows in sequence order, streamed to `body` so exports never hold the whole log.
    public func forEachRow(after seq: Int64 = 0, where filter: AuditFilter = AuditFilter(), _ body: (AuditRow, AuditEvent) throws -> Void) throws {
        try writer.read { db in
            var sql = "SELECT seq, payload, prevHash, hash FROM auditEvent WHERE seq > ?"
            var args: [any DatabaseValueConvertible] = [seq]
            if let from = filter.from { sql += " AND at >= ?"; args.append(AuditTime.utc(from)) }
            if let to = filter.to { sql += " AND at < ?"; args.append(AuditTime.utc(to)) }
            if let door = filter.door { sql += " AND door = ?"; args.append(door) }
            if let person = filter.personID { sql += " AND personID = ?"; args.append(person) }
            if let result = filter.result { sql += " AND result = ?"; args.append(result) }
            sql += " ORDER BY seq"
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args))
            while let row = try cursor.next() {
                let r = AuditRow(seq: row["seq"], payload: row["payload"], prevHash: row["prevHash"], hash: row["hash"])
                try body(r, try CanonicalEncoding.decode(r.payload))
            }
        }
    }
}

/// Which events an export, tail or stats call looks at.
public struct AuditFilter: Sendable {
    public var from: Date?
    public var to: Date?
    public var door: String?
    public var personID: Int64?
    public var result: String?
    public init(from: Date? = nil, to: Date? = nil, door: String? = nil, personID: Int64? = nil, result: String? = nil) {
        self.from = from; self.to = to; self.door = door; self.personID = personID; self.result = result
    }
}
