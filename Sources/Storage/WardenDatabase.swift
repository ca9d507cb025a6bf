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

    public static let fileName = "identity.sqlite"

    /// Opens (creating if needed) and migrates. A database touched by a newer schema is
    /// refused before anything is written to it.
    public init(path: String) throws {
        self.path = path
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
    }

    /// The database in a Warden home directory.
    public convenience init(home: String) throws {
        try self.init(path: (home as NSString).appendingPathComponent(Self.fileName))
    }

    public var people: PersonRepository { PersonRepository(writer: writer) }
    public var badges: BadgeRepository { BadgeRepository(writer: writer) }
    public var templates: TemplateRepository { TemplateRepository(writer: writer) }
    public var changes: AdminChangeRepository { AdminChangeRepository(writer: writer) }
}
