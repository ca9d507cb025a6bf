import Crypto
import FaceKit
import Foundation
import GRDB

public enum StorageError: Error, CustomStringConvertible, Equatable, Sendable {
    case newerSchema(path: String, unknown: [String])
    case cannotOpen(path: String, reason: String)
    case notFound(String)
    case conflict(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .newerSchema(let path, let unknown):
            return "\(path) was written by a newer Warden (schema \(unknown.joined(separator: ", "))); upgrade Warden to open it. Nothing was changed."
        case .cannotOpen(let path, let reason): return "cannot open the database \(path): \(reason)"
        case .notFound(let what): return what
        case .conflict(let what): return what
        case .invalid(let what): return what
        }
    }
}

/// The identity database: one SQLite file in WAL mode, created owner-only, migrated on open.
public final class WardenDatabase: Sendable {
    public let writer: DatabasePool
    public let path: String
    public let keyPath: String
    let cipherBox: CipherBox

    public static let fileName = "identity.sqlite"

    /// Opens (creating if needed) and migrates. A database touched by a newer schema is
    /// refused before anything is written to it.
    /// `keyPath`: the template key (default `keys/template.key` beside the database),
    /// created owner-only on first use; a key others can read is refused.
    public init(path: String, keyPath: String? = nil) throws {
        self.path = path
        let keyPath = keyPath ?? ProcessInfo.processInfo.environment["WARDEN_TEMPLATE_KEY"]
            ?? (((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("keys/template.key"))
        self.keyPath = keyPath
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent
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
        try migrator.migrate(writer)
        cipherBox = CipherBox(try Self.resolveKey(keyPath: keyPath, writer: writer))
        try encryptPlaintextTemplates()
    }

    /// The key in force. A `.new` key left by an interrupted rotation is adopted if the
    /// rotation's transaction committed (the stored templates carry its key id), and
    /// discarded otherwise: either way every template stays readable.
    static func resolveKey(keyPath: String, writer: DatabasePool) throws -> TemplateCipher {
        let current = TemplateCipher(key: try TemplateKeyFile.loadOrCreate(path: keyPath))
        let pendingPath = keyPath + ".new"
        guard FileManager.default.fileExists(atPath: pendingPath) else { return current }
        let pending = TemplateCipher(key: try TemplateKeyFile.load(path: pendingPath))
        let storedIDs = try writer.read { db in
            Set(try Data.fetchAll(db, sql: "SELECT embedding FROM faceTemplate").compactMap(TemplateCipher.keyID(of:)))
        }
        if storedIDs.contains(pending.keyID) {
            guard rename(pendingPath, keyPath) == 0 else { throw TemplateCipherError.keyFile("cannot finish the key rotation: \(String(cString: strerror(errno)))") }
            return pending
        }
        unlink(pendingPath)
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
    public func rotateTemplateKey(failAfter: Int? = nil) throws -> Int {
        let old = cipherBox.cipher
        let new = TemplateCipher(key: SymmetricKey(size: .bits256))
        let pendingPath = keyPath + ".new"
        try TemplateKeyFile.write(new.key, to: pendingPath)
        let n: Int
        do {
            n = try writer.write { db -> Int in
                var count = 0
                for row in try Row.fetchAll(db, sql: "SELECT id, personId, modelID, embedding FROM faceTemplate") {
                    if let f = failAfter, count >= f { throw TemplateCipherError.keyFile("rotation interrupted (test)") }
                    let e = try old.open(row["embedding"], personID: row["personId"], modelID: row["modelID"])
                    try db.execute(sql: "UPDATE faceTemplate SET embedding = ? WHERE id = ?", arguments: [try new.seal(e, personID: row["personId"]), row["id"] as Int64])
                    count += 1
                }
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
    public convenience init(home: String) throws {
        try self.init(path: (home as NSString).appendingPathComponent(Self.fileName))
    }

    public var people: PersonRepository { PersonRepository(writer: writer) }
    public var badges: BadgeRepository { BadgeRepository(writer: writer) }
    public var templates: TemplateRepository { TemplateRepository(writer: writer, cipher: cipherBox.cipher) }
    public var changes: AdminChangeRepository { AdminChangeRepository(writer: writer) }
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
