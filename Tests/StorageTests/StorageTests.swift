import FaceKit
import Foundation
import GRDB
import Storage
import Testing
import WardenCore

/// A fresh data directory per test.
struct TempHome: ~Copyable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-store-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var dbPath: String { (path as NSString).appendingPathComponent(WardenDatabase.fileName) }
}

let admin = Operator("test-admin")

func template(for personID: Int64, seed: Float = 1) throws -> FaceTemplate {
    let e = try Embedding(raw: (0..<128).map { Float($0 % 7) * seed + 0.5 })
    return FaceTemplate(personId: personID, embedding: Data(e.serialized()), modelID: e.modelID, interEyeDistance: 80,
                        sharpness: 300, yaw: 0, roll: 0, detectionScore: 1.5, sourceSHA256: String(repeating: "ab", count: 32),
                        sourceName: "photo.jpg", createdBy: admin.name)
}

@Suite("Identity store")
struct StorageTests {
    @Test func createsAnOwnerOnlyWALDatabase() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        _ = try db.people.add(Person(displayName: "A"), by: admin)
        let mode = try FileManager.default.attributesOfItem(atPath: home.dbPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: home.dbPath + suffix) {
            #expect(try FileManager.default.attributesOfItem(atPath: home.dbPath + suffix)[.posixPermissions] as? Int == 0o600)
        }
        let journal = try db.writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
    }

    @Test func reopeningKeepsDataAndMigrationsAreIdempotent() throws {
        let home = try TempHome()
        do { _ = try WardenDatabase(home: home.path).people.add(Person(displayName: "Kept"), by: admin) }
        let again = try WardenDatabase(home: home.path)
        #expect(try again.people.list().map(\.displayName) == ["Kept"])
    }

    @Test func refusesADatabaseFromANewerSchema() throws {
        let home = try TempHome()
        do {
            let db = try WardenDatabase(home: home.path)
            try db.writer.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        }
        #expect(throws: StorageError.newerSchema(path: home.dbPath, unknown: ["v99-from-the-future"])) {
            try WardenDatabase(home: home.path)
        }
        #expect("\(StorageError.newerSchema(path: "x", unknown: ["v9"]))".contains("upgrade Warden"))
    }

    @Test func peopleAreFoundByIdExternalIdOrName() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let ada = try db.people.add(Person(displayName: "Ada", externalID: "E1"), by: admin)
        _ = try db.people.add(Person(displayName: "Twin"), by: admin)
        _ = try db.people.add(Person(displayName: "Twin"), by: admin)
        #expect(try db.people.find("\(ada.id!)").id == ada.id)
        #expect(try db.people.find("#\(ada.id!)").id == ada.id)
        #expect(try db.people.find("E1").id == ada.id)
        #expect(try db.people.find("Ada").id == ada.id)
        #expect { try db.people.find("Twin") } throws: { "\($0)".contains("2 people are named") }
        #expect { try db.people.find("Nobody") } throws: { "\($0)".contains("no person 'Nobody'") }
        #expect(throws: StorageError.self) { try db.people.add(Person(displayName: "Other", externalID: "E1"), by: admin) }
        #expect(throws: StorageError.self) { try db.people.add(Person(displayName: "  "), by: admin) }
    }

    @Test func suspensionAndValidityDecideEligibility() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var p = try db.people.add(Person(displayName: "Temp", validFrom: now.addingTimeInterval(-10), validUntil: now.addingTimeInterval(10)), by: admin)
        #expect(p.isEligible(at: now))
        #expect(!p.isEligible(at: now.addingTimeInterval(10)))
        #expect(!p.isEligible(at: now.addingTimeInterval(-11)))
        p = try db.people.setStatus(p.id!, to: .suspended, by: admin)
        #expect(!p.isEligible(at: now))
        #expect(throws: StorageError.self) {
            try db.people.add(Person(displayName: "Backwards", validFrom: now, validUntil: now.addingTimeInterval(-1)), by: admin)
        }
    }

    /// Right to be forgotten: removal deletes the templates, and secure_delete means their
    /// bytes are not left behind in the file.
    @Test func removingAPersonErasesTheirTemplatesFromTheFile() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "Leaving"), by: admin)
        let stay = try db.people.add(Person(displayName: "Staying"), by: admin)
        let t = try db.templates.add(try template(for: p.id!, seed: 3.25), by: admin)
        _ = try db.templates.add(try template(for: stay.id!), by: admin)
        #expect(TemplateCipher.keyID(of: t.embedding) != nil)  // the blob in the file is ciphertext
        _ = try db.badges.issue(try BadgeCredential(parsing: "1:2"), to: p.id!, by: admin)
        try db.writer.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let needle = t.embedding.suffix(64)
        func fileContainsTemplate() throws -> Bool {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: home.dbPath))
            if let wal = try? Data(contentsOf: URL(fileURLWithPath: home.dbPath + "-wal")) { bytes.append(wal) }
            return bytes.range(of: needle) != nil
        }
        #expect(try fileContainsTemplate())

        let removal = try db.people.remove(p.id!, by: admin)
        #expect(removal.templatesDeleted == 1 && removal.badgesDeleted == 1)
        #expect(try db.templates.forPerson(p.id!).isEmpty)
        #expect(try db.templates.count() == 1)
        #expect(try db.badges.lookup(try BadgeCredential(parsing: "1:2")) == nil)
        try db.writer.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        #expect(try !fileContainsTemplate())
        let change = try #require(try db.changes.recent().first)
        #expect(change.action == "person.remove" && change.operator == "test-admin")
        #expect(!change.detail.contains("embedding"))
    }

    @Test func badgesIssueRevokeAndConflict() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let a = try db.people.add(Person(displayName: "A"), by: admin)
        let b = try db.people.add(Person(displayName: "B"), by: admin)
        let card = try BadgeCredential(parsing: "12:345")
        _ = try db.badges.issue(card, to: a.id!, by: admin)
        #expect { try db.badges.issue(card, to: b.id!, by: admin) } throws: { "\($0)".contains("already active") }
        let revoked = try db.badges.revoke(card, by: admin)
        #expect(revoked.status == .revoked && revoked.revokedAt != nil)
        #expect(try db.badges.lookup(card)?.status == .revoked)
        // Once revoked, the same card number can be reissued.
        _ = try db.badges.issue(card, to: b.id!, by: admin)
        #expect(try db.badges.lookup(card)?.personId == b.id)
        // The same numbers in another format are another credential.
        _ = try db.badges.issue(try BadgeCredential(parsing: "12:345", format: .h10304), to: a.id!, by: admin)
        #expect(throws: StorageError.self) { try db.badges.revoke(try BadgeCredential(parsing: "9:9"), by: admin) }
    }

    @Test func everyChangeIsAttributed() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "A"), by: Operator("alice"))
        _ = try db.templates.add(try template(for: p.id!), by: Operator("bob"))
        _ = try db.people.setStatus(p.id!, to: .suspended, by: Operator("carol"))
        let changes = try db.changes.recent().reversed().map { "\($0.operator):\($0.action)" }
        #expect(changes == ["alice:person.add", "bob:template.enroll", "carol:person.suspend"])
    }

    @Test func storedTemplatesDecode() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "A"), by: admin)
        let plain = try template(for: p.id!)
        _ = try db.templates.add(plain, by: admin)
        let stored = try #require(try db.templates.all(modelID: ModelSet.recognitionModelID).first)
        #expect(TemplateCipher.keyID(of: stored.embedding) != nil)  // stored sealed
        #expect(try db.templates.embedding(of: stored) == Embedding(serialized: [UInt8](plain.embedding)))
    }
}

/// A camera capture's templates are one change: all stored, or none.
@Suite("Template sets")
struct TemplateSetTests {
    @Test func aSetIsStoredWholeOrNotAtAll() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "Ada"), by: admin)
        let stored = try db.templates.addAll([try template(for: p.id!, seed: 1), try template(for: p.id!, seed: 2)], by: admin)
        #expect(stored.count == 2 && stored.allSatisfy { $0.id != nil })
        // The second row names nobody: the first must not stay either.
        #expect(throws: (any Error).self) { _ = try db.templates.addAll([try template(for: p.id!, seed: 3), try template(for: 9_999, seed: 4)], by: admin) }
        #expect(try db.templates.forPerson(p.id!).count == 2)
    }
}
