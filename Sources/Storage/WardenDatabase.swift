import Crypto
import FaceKit
import Foundation
import GRDB
import SQLiteSupport
import WardenCore

public enum StorageError: Error, CustomStringConvertible, Equatable, Sendable {
    case newerSchema(path: String, unknown: [String])
    case cannotOpen(path: String, reason: String)
    case notFound(String)
    case conflict(String)
    case invalid(String)
    /// The change's audit event could not be written, so the change was not made.
    case unaudited(String)

    public var description: String {
        switch self {
        case .newerSchema(let path, let unknown):
            return "\(path) was written by a newer Warden (schema \(unknown.joined(separator: ", "))); upgrade Warden to open it. Nothing was changed."
        case .cannotOpen(let path, let reason): return "cannot open the database \(path): \(reason)"
        case .notFound(let what): return what
        case .conflict(let what): return what
        case .invalid(let what): return what
        case .unaudited(let why): return "refused: the change could not be written to the audit log, so nothing was changed (\(why))"
        }
    }
}

/// The identity database: one SQLite file in WAL mode, created owner-only, migrated on open.
public final class WardenDatabase: Sendable {
    public let writer: DatabasePool
    public let path: String
    public let keyPath: String
    let cipherBox: CipherBox
    /// Where every administrative change's audit event goes, inside the change's own
    /// transaction (see ChangeJournal). The CLI always sets one; without one (unit tests,
    /// the simulated demo site) changes are recorded here only, and reconciliation reports
    /// them as unaudited.
    public let auditor: (any ChangeAuditor)?
    var changeWriter: ChangeWriter { ChangeWriter(writer: writer, auditor: auditor) }

    public static let fileName = "identity.sqlite"

    /// Opens (creating if needed) and migrates. A database touched by a newer schema is
    /// refused before anything is written to it.
    /// `keyPath`: the template key (default `keys/template.key` beside the database),
    /// created owner-only on first use; a key others can read is refused.
    /// `readOnly`: for commands that only read, so they still work on a full disk; nothing
    /// is created, migrated or re-encrypted (a database that needs migrating is opened for
    /// writing instead).
    public init(path: String, keyPath: String? = nil, auditor: (any ChangeAuditor)? = nil, readOnly: Bool = false) throws {
        self.path = path
        self.auditor = auditor
        let keyPath = keyPath ?? ProcessInfo.processInfo.environment["WARDEN_TEMPLATE_KEY"]
            ?? (((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("keys/template.key"))
        self.keyPath = keyPath
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent
        if readOnly, let pool = try? ReadOnlyOpen.pool(path: path), (try? pool.read({ try WardenMigrations.migrator.hasCompletedMigrations($0) })) == true {
            writer = pool
            cipherBox = CipherBox(try Self.resolveKey(keyPath: keyPath, templateKeys: try Self.templateKeyIDs(pool), create: false))
            return
        }
        do {
            if !dir.isEmpty { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) }
            // Create the file owner-only before SQLite does: its -wal and -shm files copy
            // the main file's permissions.
            if !fm.fileExists(atPath: path) {
                guard fm.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                    throw StorageError.cannotOpen(path: path, reason: "cannot create the file")
                }
            }
        } catch let e as StorageError { throw e } catch {
            throw StorageError.cannotOpen(path: path, reason: "\(error.localizedDescription)")
        }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        // Deleted rows are overwritten with zeros rather than left in free pages, so a
        // removed person's templates cannot be carved back out of the file.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        do { writer = try DatabasePool(path: path, configuration: config) } catch {
            throw StorageError.cannotOpen(path: path, reason: "\(error)")
        }
        let migrator = WardenMigrations.migrator
        let superseded: Set<String> = try writer.read { db in
            let applied = try migrator.appliedIdentifiers(db)
            return applied.subtracting(migrator.migrations)
        }
        guard superseded.isEmpty else { throw StorageError.newerSchema(path: path, unknown: superseded.sorted()) }
        // Only a migration needs the write lock: opening for reading must not wait on a writer.
        if try !writer.read({ try migrator.hasCompletedMigrations($0) }) { try migrator.migrate(writer) }
        // One pass over the stored templates serves the key checks and the plaintext check.
        let keys = try Self.templateKeyIDs(writer)
        cipherBox = CipherBox(try Self.resolveKey(keyPath: keyPath, templateKeys: keys, create: true))
        if keys.contains(nil) { try encryptPlaintextTemplates() }
    }

    /// The key id each stored template was sealed with (nil: a template from before
    /// encryption).
    static func templateKeyIDs(_ writer: DatabasePool) throws -> [Data?] {
        // Reader keys are sealed under the same key: a database holding only those must not
        // have its key replaced either.
        try writer.read { db in
            let readerKeys = try db.tableExists("readerKey") ? Data.fetchAll(db, sql: "SELECT sealed FROM readerKey WHERE sealed IS NOT NULL UNION ALL SELECT pending FROM readerKey WHERE pending IS NOT NULL") : []
            return try (Data.fetchAll(db, sql: "SELECT embedding FROM faceTemplate") + readerKeys).map(TemplateCipher.keyID(of:))
        }
    }

    /// SQLite's own consistency check of every page (`PRAGMA quick_check`): nil when the
    /// file is sound, else what SQLite found, so a damaged database is refused at start-up
    /// instead of turning into wrong answers at the door.
    public func integrityProblem() -> String? {
        do {
            let rows = try writer.read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
            return rows == ["ok"] ? nil : rows.prefix(5).joined(separator: "; ")
        } catch {
            return "\(error)"
        }
    }

    /// Copies the write-ahead log into the database file and truncates it to zero bytes,
    /// so page images from before an erasure (a removed person's templates) are gone from
    /// both files. Run after every erasure and on shutdown by each process holding the
    /// database; waits for readers up to the busy timeout.
    public func checkpointAndTruncateLog() throws {
        try writer.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            if let busy: Int = row?[0], busy != 0 {
                throw StorageError.invalid("the write-ahead log of \(path) could not be truncated: another process is reading it")
            }
        }
    }

    /// Picks up a key that another process installed (`warden keys rotate` while
    /// `warden run` holds the database): when the stored templates carry another key id than
    /// the one in force, the key file is read again. Throws when that key does not open them.
    public func reloadKeyIfRotated() throws {
        let keys = try Self.templateKeyIDs(writer)
        let stored = Set(keys.compactMap { $0 })
        guard !stored.isEmpty, !stored.contains(cipherBox.cipher.keyID) else { return }
        cipherBox.cipher = try Self.resolveKey(keyPath: keyPath, templateKeys: keys, create: false)
    }

    /// The key in force. A `.new` key left by an interrupted rotation is adopted if the
    /// rotation's transaction committed (the stored templates carry its key id), and
    /// discarded otherwise: either way every template stays readable.
    ///
    /// A key is created only for a database with no templates: a missing or replaced key
    /// with templates stored is refused, naming the key file and the templates it cannot
    /// open, never papered over with a fresh key that opens nothing.
    /// `templateKeys`: `templateKeyIDs`, read once by the caller.
    static func resolveKey(keyPath: String, templateKeys: [Data?], create: Bool) throws -> TemplateCipher {
        let stored = templateKeys.compactMap { $0 }
        let keyExists = FileManager.default.fileExists(atPath: keyPath)
        if !keyExists, !stored.isEmpty {
            throw TemplateCipherError.keyFile("the template key \(keyPath) is missing, but \(stored.count == 1 ? "1 stored template was" : "\(stored.count) stored templates were") sealed with it; "
                + "restore the key from your backup (Warden will not create a new key that cannot open them)")
        }
        if !keyExists, !create { throw TemplateCipherError.keyFile("the template key \(keyPath) is missing") }
        let current = TemplateCipher(key: try TemplateKeyFile.loadOrCreate(path: keyPath))
        let pendingPath = keyPath + ".new"
        guard FileManager.default.fileExists(atPath: pendingPath) else {
            let foreign = stored.filter { $0 != current.keyID }.count
            if foreign > 0 {
                throw TemplateCipherError.keyFile("the template key \(keyPath) does not open \(foreign) of \(counted(stored.count, "stored template")): "
                    + "it was replaced; restore the key they were sealed with from your backup")
            }
            return current
        }
        let pending = TemplateCipher(key: try TemplateKeyFile.load(path: pendingPath))
        if stored.contains(pending.keyID) {
            guard create else { return pending }
            guard rename(pendingPath, keyPath) == 0 else { throw TemplateCipherError.keyFile("cannot finish the key rotation: \(String(cString: strerror(errno)))") }
            return pending
        }
        // Never discarded from a reader: a rotation may be under way in another process.
        if create { unlink(pendingPath) }
        return current
    }

    /// Templates written before encryption existed are sealed in one transaction.
    private func encryptPlaintextTemplates() throws {
        let cipher = cipherBox.cipher
        try writer.write { db in
            for row in try Row.fetchAll(db, sql: "SELECT id, personId, embedding FROM faceTemplate") {
                let blob: Data = row["embedding"]
                guard TemplateCipher.keyID(of: blob) == nil, let e = try? Embedding(serialized: [UInt8](blob)) else { continue }
                try db.execute(sql: "UPDATE faceTemplate SET embedding = ? WHERE id = ?",
                               arguments: [try cipher.seal(e, personID: row["personId"]), row["id"] as Int64])
            }
        }
    }

    /// Re-encrypts every template under a new key in one transaction. The new key is
    /// written (as `template.key.new`) before the transaction and installed after it, so a
    /// crash at any point leaves every template readable with the key that `init` picks.
    /// `failAfter` makes the transaction fail after that many rows (tests).
    public func rotateTemplateKey(by op: Operator = Operator("system"), failAfter: Int? = nil) throws -> Int {
        let old = cipherBox.cipher
        let new = TemplateCipher(key: SymmetricKey(size: .bits256))
        let pendingPath = keyPath + ".new"
        try TemplateKeyFile.write(new.key, to: pendingPath)
        let n: Int
        do {
            n = try changeWriter.write { db, journal -> Int in
                var count = 0
                for row in try Row.fetchAll(db, sql: "SELECT id, personId, modelID, embedding FROM faceTemplate") {
                    if let f = failAfter, count >= f { throw TemplateCipherError.keyFile("rotation interrupted (test)") }
                    let e = try old.open(row["embedding"], personID: row["personId"], modelID: row["modelID"])
                    try db.execute(sql: "UPDATE faceTemplate SET embedding = ? WHERE id = ?", arguments: [try new.seal(e, personID: row["personId"]), row["id"] as Int64])
                    count += 1
                }
                var readerKeys = 0
                for row in try Row.fetchAll(db, sql: "SELECT door, sealed, pending FROM readerKey") {
                    let door: String = row["door"]
                    func reseal(_ blob: Data?) throws -> Data? {
                        guard let blob else { return nil }
                        return try new.sealSecret(try old.openSecret(blob, context: ReaderKeyRepository.context(door)), context: ReaderKeyRepository.context(door))
                    }
                    try db.execute(sql: "UPDATE readerKey SET sealed = ?, pending = ? WHERE door = ?", arguments: [try reseal(row["sealed"]), try reseal(row["pending"]), door])
                    readerKeys += 1
                }
                try journal.record("keys.rotate", subject: "templates",
                                   fields: ["templates": String(count), "reader_keys": String(readerKeys), "key_id": Hex.encode(new.keyID)], by: op, in: db)
                return count
            }
        } catch {
            unlink(pendingPath)
            throw error
        }
        guard rename(pendingPath, keyPath) == 0 else { throw TemplateCipherError.keyFile("cannot install the new key: \(String(cString: strerror(errno)))") }
        cipherBox.cipher = new
        return n
    }

    /// The database in a Warden home directory.
    public convenience init(home: String, auditor: (any ChangeAuditor)? = nil) throws {
        try self.init(path: (home as NSString).appendingPathComponent(Self.fileName), auditor: auditor)
    }

    public var people: PersonRepository { PersonRepository(writer: writer, changes: changeWriter) }
    public var badges: BadgeRepository { BadgeRepository(writer: writer, changes: changeWriter) }
    public var templates: TemplateRepository { TemplateRepository(writer: writer, changes: changeWriter, cipher: cipherBox.cipher) }
    public var replica: ReplicaRepository { ReplicaRepository(writer: writer, changes: changeWriter, cipher: cipherBox.cipher) }
    public var changes: AdminChangeRepository { AdminChangeRepository(writer: writer) }
    public var readerKeys: ReaderKeyRepository { ReaderKeyRepository(writer: writer, changes: changeWriter, cipher: cipherBox.cipher) }
}

/// The cipher in force, swapped by a key rotation.
final class CipherBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: TemplateCipher
    init(_ c: TemplateCipher) { value = c }
    var cipher: TemplateCipher {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
