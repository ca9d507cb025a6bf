import Audit
import Backup
import Foundation
import Storage
import Testing
import WardenCore

/// Backup and restore of a board's home: a round trip, and every way an archive or a home
/// can be wrong.
@Suite("backup and restore", .serialized)
struct BackupTests {
    final class Homes {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("warden-backup-\(UUID())").path
        var source: String { root + "/source" }
        var target: String { root + "/target" }
        var archive: String { root + "/board.wbk" }
        init() throws {
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let db = try WardenDatabase(home: source)
            let op = Operator("test")
            for name in ["Ada", "Grace", "Linus"] { _ = try db.people.add(Person(displayName: name, at: Date()), by: op) }
            let audit = try AuditStore(home: source)
            try audit.append((1...40).map { AuditEvent(kind: .decision, type: "access.granted", door: "lobby", detail: ["n": String($0)]) })
            try "fail_mode: secure\n".write(toFile: source + "/door-modes.json", atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(atPath: root) }
    }
    static let passphrase = BackupArchive.KeySource.passphrase("correct horse battery")

    @Test func aHomeComesBackWholeAndItsChainVerifies() throws {
        let h = try Homes()
        let m = try HomeBackup.create(home: h.source, site: nil, to: h.archive, key: Self.passphrase)
        #expect(Set(m.files.map(\.path)) == ["identity.sqlite", "audit.sqlite", "keys/template.key", "door-modes.json"])
        #expect(m.auditHeadSeq == 40 && m.identityMigrations == WardenDatabase.knownMigrations)
        let r = try HomeBackup.restore(from: h.archive, into: h.target, key: Self.passphrase, knownMigrations: WardenDatabase.knownMigrations,
                                       replacing: false, siteDirectory: nil, by: "test")
        #expect(r.files == 4 && r.auditHeadSeq == 40 && r.replacedInto == nil)
        // The templates' key came back, so the database opens; the people are there.
        #expect(try WardenDatabase(home: h.target).people.list().map(\.displayName).sorted() == ["Ada", "Grace", "Linus"])
        #expect(FileManager.default.contents(atPath: h.target + "/keys/template.key") == FileManager.default.contents(atPath: h.source + "/keys/template.key"))
        let audit = try AuditStore(home: h.target)
        #expect(try audit.verify().ok)
        #expect(try audit.discontinuity() == nil)
        var last: AuditEvent? = nil
        try audit.forEachRow { _, e in last = e }
        #expect(last?.type == "admin.restore" && last?.seq == 41 && last?.detail?["restored_head_seq"] == "40")
        // And the restored log goes on: the next append chains on.
        try audit.append([AuditEvent(kind: .system, type: "system.start")])
        #expect(try audit.verify().ok)
    }

    @Test func aWrongKeyADamagedOrACutArchiveIsRefusedAndTheHomeStaysEmpty() throws {
        let h = try Homes()
        try HomeBackup.create(home: h.source, site: nil, to: h.archive, key: Self.passphrase)
        func restore(_ key: BackupArchive.KeySource = Self.passphrase) throws { _ = try HomeBackup.restore(from: h.archive, into: h.target, key: key,
            knownMigrations: WardenDatabase.knownMigrations, replacing: false, siteDirectory: nil, by: "test") }
        #expect { try restore(.passphrase("wrong horse battery")) } throws: { "\($0)".contains("wrong passphrase or key file") }
        let original = try #require(FileManager.default.contents(atPath: h.archive))
        // One byte changed in the sealed data.
        var changed = original
        changed[original.count / 2] ^= 0x01
        try changed.write(to: URL(fileURLWithPath: h.archive))
        #expect { try restore() } throws: { "\($0)".contains("does not verify") }
        // Cut short: the last chunk missing.
        try original.prefix(original.count - 100).write(to: URL(fileURLWithPath: h.archive))
        #expect { try restore() } throws: { ($0 as? BackupError).map { if case .damaged = $0 { return true } else { return false } } ?? false }
        // Nothing of it reached the home.
        #expect(!FileManager.default.fileExists(atPath: h.target + "/identity.sqlite") && !FileManager.default.fileExists(atPath: h.target + "/audit.sqlite"))
    }

    @Test func aNewerWardensArchiveIsRefused() throws {
        let h = try Homes()
        try HomeBackup.create(home: h.source, site: nil, to: h.archive, key: Self.passphrase)
        #expect {
            _ = try HomeBackup.restore(from: h.archive, into: h.target, key: Self.passphrase, knownMigrations: Array(WardenDatabase.knownMigrations.dropLast()),
                                       replacing: false, siteDirectory: nil, by: "test")
        } throws: { "\($0)".contains("made by a newer Warden") && "\($0)".contains(WardenDatabase.knownMigrations.last!) }
    }

    /// A home that holds data is not overwritten; with the acknowledgement, what was there
    /// is moved aside and the restored log says what it replaced.
    @Test func aHomeWithDataIsReplacedOnlyWhenSaidAndNothingIsLost() throws {
        let h = try Homes()
        try HomeBackup.create(home: h.source, site: nil, to: h.archive, key: Self.passphrase)
        // The source goes on after the backup: its log is now newer than the archive.
        try AuditStore(home: h.source).append((1...5).map { _ in AuditEvent(kind: .system, type: "system.start") })
        #expect {
            _ = try HomeBackup.restore(from: h.archive, into: h.source, key: Self.passphrase, knownMigrations: WardenDatabase.knownMigrations,
                                       replacing: false, siteDirectory: nil, by: "test")
        } throws: { "\($0)".contains("is not empty") && "\($0)".contains("newest row is #45") && "\($0)".contains("--replace-existing") }
        let r = try HomeBackup.restore(from: h.archive, into: h.source, key: Self.passphrase, knownMigrations: WardenDatabase.knownMigrations,
                                       replacing: true, siteDirectory: nil, by: "test")
        let aside = try #require(r.replacedInto)
        #expect(FileManager.default.fileExists(atPath: aside + "/audit.sqlite") && FileManager.default.fileExists(atPath: aside + "/identity.sqlite"))
        #expect(try AuditStore(path: aside + "/audit.sqlite", readOnly: true).lastSeq() == 45)
        let audit = try AuditStore(home: h.source)
        #expect(try audit.verify().ok)
        var last: AuditEvent? = nil
        try audit.forEachRow { _, e in last = e }
        #expect(last?.type == "admin.restore" && last?.detail?["replaced_head_seq"] == "45" && last?.detail?["acknowledged"] == "--replace-existing")
    }

    @Test func aKeyFileSealsAndOpensAndIsNeverOverwritten() throws {
        let h = try Homes()
        let keyFile = h.root + "/backup.key"
        try BackupArchive.writeNewKeyFile(keyFile)
        #expect(throws: BackupError.self) { try BackupArchive.writeNewKeyFile(keyFile) }
        try HomeBackup.create(home: h.source, site: nil, to: h.archive, key: .keyFile(keyFile))
        #expect {
            _ = try HomeBackup.restore(from: h.archive, into: h.target, key: Self.passphrase, knownMigrations: WardenDatabase.knownMigrations,
                                       replacing: false, siteDirectory: nil, by: "test")
        } throws: { "\($0)".contains("sealed with a key file") }
        let r = try HomeBackup.restore(from: h.archive, into: h.target, key: .keyFile(keyFile), knownMigrations: WardenDatabase.knownMigrations,
                                       replacing: false, siteDirectory: nil, by: "test")
        #expect(r.files == 4)
    }

    @Test func anArchiveIsNotPlaintext() throws {
        let h = try Homes()
        try HomeBackup.create(home: h.source, site: nil, to: h.archive, key: Self.passphrase)
        let bytes = try #require(FileManager.default.contents(atPath: h.archive))
        #expect(bytes.range(of: Data("Grace".utf8)) == nil && bytes.range(of: Data("SQLite format".utf8)) == nil)
    }
}
