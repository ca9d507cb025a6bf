import Crypto
import Foundation
import WardenCore
import GRDB
import SQLiteSupport

public enum AuditError: Error, CustomStringConvertible, Sendable {
    case cannotOpen(String, String)
    case newerSchema(String)
    case invalid(String)
    /// The log no longer contains the row its head file recorded, or the head is gone:
    /// rows were cut off, the log was wiped or replaced. Nothing more is appended until an
    /// operator acknowledges it.
    case discontinuity(String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let why): return "cannot open the audit log \(p): \(why)"
        case .newerSchema(let p): return "\(p) was written by a newer Warden; upgrade Warden to read it"
        case .invalid(let s): return s
        case .discontinuity(let what):
            return "the audit log is not the one Warden wrote: \(what). Nothing is appended (no doors run, no admin change is made) "
                + "until this is looked into: restore audit.sqlite and audit.head from a backup if you have one, "
                + "or record the loss with `warden audit acknowledge --reason TEXT`."
        }
    }
}

/// A stored row: the canonical payload and its place in the hash chain.
public struct AuditRow: Sendable, Equatable {
    public let seq: Int64
    public let payload: String
    public let prevHash: String
    public let hash: String
    public init(seq: Int64, payload: String, prevHash: String, hash: String) { self.seq = seq; self.payload = payload; self.prevHash = prevHash; self.hash = hash }
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
    /// `readOnly`: for verify and export, so they still work on a full disk; a log that
    /// does not exist yet, or needs migrating, is opened for writing instead.
    public init(path: String, maxPageCount: Int? = nil, readOnly: Bool = false) throws {
        self.path = path
        self.headPath = (path as NSString).deletingPathExtension + ".head"
        let fm = FileManager.default
        if readOnly, let size = (try? fm.attributesOfItem(atPath: path))?[.size] as? Int, size > 0 {
            if let pool = try? ReadOnlyOpen.pool(path: path),
               (try? pool.read { try Self.migrator.hasCompletedMigrations($0) }) == true {
                writer = pool
                return
            }
        }
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
        let m = Self.migrator
        let unknown = try writer.read { try m.appliedIdentifiers($0).subtracting(m.migrations) }
        guard unknown.isEmpty else { throw AuditError.newerSchema(path) }
        // Only a migration needs the write lock: opening for reading must not wait on a writer.
        if try !writer.read({ try m.hasCompletedMigrations($0) }) { try m.migrate(writer) }
        // A new, empty log gets its head (row 0, the genesis) before anyone appends, so a
        // head missing beside rows always means a removed one. Without it, a second process
        // appending between the first writer's first commit and its first head update took
        // the gap for a deletion and refused (found by the concurrent-writers test). Best
        // effort: on a full disk the first append's own head update still covers it.
        if readHeadState() == .absent, (try? writer.read({ try self.tail($0).0 })) == 0 { try? updateHead() }
    }

    static var migrator: DatabaseMigrator {
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
        return m
    }

    public convenience init(home: String, maxPageCount: Int? = nil, readOnly: Bool = false) throws {
        try self.init(path: (home as NSString).appendingPathComponent(Self.fileName), maxPageCount: maxPageCount, readOnly: readOnly)
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
        return Hex.encode(h.finalize())
    }

    /// Appends events in one transaction, chaining each to the one before, and returns them
    /// with their sequence numbers. Safe against other processes appending at the same time:
    /// the chain tail is read inside the write transaction.
    ///
    /// Refused with `AuditError.discontinuity` when the log does not contain the row its head
    /// file recorded (see `headProblem`): appending would bury the loss under new rows.
    @discardableResult
    public func append(_ events: [AuditEvent]) throws -> [AuditEvent] {
        try append(events, acknowledging: false)
    }

    private func append(_ events: [AuditEvent], acknowledging: Bool) throws -> [AuditEvent] {
        guard !events.isEmpty else { return [] }
        var first = false
        let written: [AuditEvent] = try writer.write { db in
            if !acknowledging, let problem = try headProblem(db) { throw AuditError.discontinuity(problem) }
            first = try tail(db).0 == 0
            return try insert(events, db)
        }
        try updateHead(force: acknowledging, firstRows: first)
        return written
    }

    /// Records that an operator has looked into a discontinuity (`headProblem`) and accepts
    /// it: the event, which names what was found, is appended to the log as it is, and the
    /// head moves to it. `verify` lists every acknowledged discontinuity from then on, so
    /// the loss stays on the record. Throws when there is nothing to acknowledge.
    @discardableResult
    public func acknowledgeDiscontinuity(operator op: String, reason: String, at now: Date = Date()) throws -> AuditEvent {
        let state = readHeadState()
        guard let problem = try writer.read({ try headProblem($0, state) }) else {
            throw AuditError.invalid("the audit log and its head agree; there is nothing to acknowledge")
        }
        var detail = ["problem": problem, "reason": reason]
        switch state {
        case .recorded(let h): detail["head_seq"] = String(h.seq); detail["head_hash"] = h.hash
        case .absent: detail["head"] = "missing"
        case .unreadable(let why): detail["head"] = "unreadable: \(why)"
        }
        detail["log_last_seq"] = String(try lastSeq())
        let event = AuditEvent.admin(Self.acknowledgementType, operator: op, subject: "audit", detail: detail, at: now)
        return try append([event], acknowledging: true)[0]
    }

    public static let acknowledgementType = "admin.audit_acknowledge"

    /// Chains and inserts events inside the caller's write transaction.
    func insert(_ events: [AuditEvent], _ db: Database) throws -> [AuditEvent] {
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

    enum HeadState: Equatable {
        case absent
        case unreadable(String)
        case recorded(Head)
    }

    /// Writes the head as the newest committed row. Only forward, so two processes racing
    /// leave the later head; and never over a chain that does not contain the head it
    /// replaces (that is a discontinuity, which only an acknowledgement, `force`, passes).
    /// `firstRows`: the caller wrote the log's first rows, so there is no head yet.
    func updateHead(force: Bool = false, firstRows: Bool = false) throws {
        let lockPath = headPath + ".lock"
        let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError.cannotOpen(lockPath, String(cString: strerror(errno))) }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        // The head file is read once here, under the lock that guards its writes.
        let state = readHeadState()
        let (seq, hash): (Int64, String) = try writer.read { db in
            let noHeadYet = firstRows && state == .absent
            if !force, !noHeadYet, let problem = try headProblem(db, state) { throw AuditError.discontinuity(problem) }
            return try tail(db)
        }
        if !force, case .recorded(let current) = state, current.seq >= seq { return }
        let data = try JSONEncoder().encode(Head(seq: seq, hash: hash))
        let tmp = headPath + ".tmp"
        unlink(tmp)
        let out = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw AuditError.cannotOpen(tmp, String(cString: strerror(errno))) }
        let wrote = data.withUnsafeBytes { write(out, $0.baseAddress, $0.count) }
        let synced = fsync(out)
        close(out)
        guard wrote == data.count, synced == 0 else {
            unlink(tmp)
            throw AuditError.cannotOpen(headPath, "cannot write the head file (\(String(cString: strerror(errno))))")
        }
        guard rename(tmp, headPath) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tmp)
            throw AuditError.cannotOpen(headPath, "cannot replace the head file (\(why))")
        }
    }

    func readHeadState() -> HeadState { Self.readHeadState(at: headPath) }

    /// Whether a home's audit head records a written row (a new log's head is row 0): the
    /// sign that the home has history, whatever became of its other files.
    public static func headRecordsRows(home: String) -> Bool {
        let path = ((home as NSString).appendingPathComponent(fileName) as NSString).deletingPathExtension + ".head"
        switch readHeadState(at: path) {
        case .absent: return false
        case .unreadable: return true      // something is there: treat it as history
        case .recorded(let h): return h.seq > 0
        }
    }

    static func readHeadState(at headPath: String) -> HeadState {
        var st = stat()
        guard lstat(headPath, &st) == 0 else {
            return errno == ENOENT ? .absent : .unreadable(String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .unreadable("it is not a regular file") }
        guard st.st_size < 4096 else { return .unreadable("it is \(st.st_size) bytes, far larger than a head") }
        guard let data = FileManager.default.contents(atPath: headPath) else { return .unreadable("it cannot be read") }
        guard let head = try? JSONDecoder().decode(Head.self, from: data), head.seq >= 0,
              head.hash.count == 64, head.hash.allSatisfy(\.isHexDigit) else {
            return .unreadable("it does not hold a row number and hash")
        }
        return .recorded(head)
    }

    /// Whether the log still contains the row its head file recorded. nil when it does (or
    /// when the log is new and empty with no head yet); otherwise what is wrong, in words:
    /// - the head is missing or unreadable while the log holds rows (a cut-off tail could no
    ///   longer be seen);
    /// - the head names a row past the log's end (rows cut off, or the log wiped);
    /// - the head's row is there with another hash (the log was replaced).
    public func discontinuity() throws -> String? { try writer.read { try headProblem($0) } }

    /// `state`: the head file as the caller read it (by default, read now).
    func headProblem(_ db: Database, _ state: HeadState? = nil) throws -> String? {
        let (lastSeq, _) = try tail(db)
        let name = (headPath as NSString).lastPathComponent
        switch state ?? readHeadState() {
        case .absent:
            return lastSeq == 0 ? nil
                : "its head file \(name) is missing while the log holds rows up to \(lastSeq), so rows cut off its end could no longer be seen"
        case .unreadable(let why):
            return "its head file \(name) is unreadable (\(why))"
        case .recorded(let head):
            if head.seq > lastSeq {
                return lastSeq == 0
                    ? "the log is empty but \(name) records that row \(head.seq) was written: the log was wiped or replaced"
                    : "the log ends at row \(lastSeq) but \(name) records that row \(head.seq) was written: rows \(lastSeq + 1)...\(head.seq) were cut off"
            }
            if head.seq == 0 { return head.hash == Self.genesisHash ? nil : "\(name) records row 0 with a hash that is not the genesis" }
            if let h = try String.fetchOne(db, sql: "SELECT hash FROM auditEvent WHERE seq = ?", arguments: [head.seq]) {
                return h == head.hash ? nil : "row \(head.seq) is not the row \(name) recorded: the log was replaced"
            }
            if let a = try Row.fetchOne(db, sql: "SELECT seq, hash FROM auditAnchor WHERE id = 1") {
                let anchorSeq: Int64 = a["seq"]
                // Pruned past the head: the prune was itself audited, and the anchor carries on.
                if head.seq < anchorSeq { return nil }
                if head.seq == anchorSeq { return (a["hash"] as String) == head.hash ? nil : "the prune anchor is not the row \(name) recorded" }
            }
            // A missing row inside the chain: verify names it.
            return nil
        }
    }

    // MARK: Reading

    public func count() throws -> Int { try writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM auditEvent") ?? 0 } }

    public func lastSeq() throws -> Int64 { try writer.read { try tail($0).0 } }

    /// The newest row, or the prune anchor, or the genesis: what a backup records of a log.
    public func newestRow() throws -> (seq: Int64, hash: String) { try writer.read { try tail($0) } }

    /// A restore has just put this log in place (with no head file of its own): `event`,
    /// which says what was restored and what it replaced, is appended, and the head file
    /// is written from the restored rows on.
    public func adoptRestored(_ event: AuditEvent) throws { try append([event], acknowledging: true) }

    /// The log's size on disk (its pages in use, without the write-ahead log, which is
    /// bounded and reused) and its rows: what a row costs, for sizing a controller's buffer.
    public func footprint() throws -> (bytes: Int64, rows: Int64) {
        let (pages, free, size, rows): (Int64, Int64, Int64, Int64) = try writer.read { db in
            (try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0, try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0,
             try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096,
             try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM auditEvent") ?? 0)
        }
        return ((pages - free) * size, rows)
    }

    /// The last pruned row, which the remaining chain starts after (0 when none was pruned).
    public func anchorSeq() throws -> Int64 {
        try writer.read { try Int64.fetchOne($0, sql: "SELECT seq FROM auditAnchor WHERE id = 1") ?? 0 }
    }

    /// Up to `limit` rows after `seq`, in order: what a controller uploads next.
    public func rows(after seq: Int64, limit: Int) throws -> [AuditRow] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, payload, prevHash, hash FROM auditEvent WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                .map { AuditRow(seq: $0["seq"], payload: $0["payload"], prevHash: $0["prevHash"], hash: $0["hash"]) }
        }
    }

    /// Rows in sequence order, streamed to `body` so exports never hold the whole log.
    public func forEachRow(after seq: Int64 = 0, where filter: AuditFilter = AuditFilter(), _ body: (AuditRow, AuditEvent) throws -> Void) throws {
        try writer.read { db in
            var sql = "SELECT seq, payload, prevHash, hash FROM auditEvent WHERE seq > ?"
            var args: [any DatabaseValueConvertible] = [seq]
            if let from = filter.from { sql += " AND at >= ?"; args.append(AuditTime.utc(from)) }
            if let to = filter.to { sql += " AND at < ?"; args.append(AuditTime.utc(to)) }
            if let door = filter.door { sql += " AND door = ?"; args.append(door) }
            // A person's events include the admin changes about them (subject person:ID).
            if let person = filter.personID {
                sql += " AND (personID = ? OR (kind = 'admin' AND instr(payload, ?) > 0))"
                args.append(person); args.append("\"subject\":\"person:\(person)\"")
            }
            if let kind = filter.kind { sql += " AND kind = ?"; args.append(kind.rawValue) }
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
    public var kind: AuditEvent.Kind?
    public init(from: Date? = nil, to: Date? = nil, door: String? = nil, personID: Int64? = nil, result: String? = nil, kind: AuditEvent.Kind? = nil) {
        self.from = from; self.to = to; self.door = door; self.personID = personID; self.result = result; self.kind = kind
    }
}
