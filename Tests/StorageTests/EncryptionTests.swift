import FaceKit
import Foundation
import GRDB
import Storage
import Testing
import WardenCore

@Suite("Templates encrypted at rest", .serialized)
struct EncryptionTests {
    func fileBytes(_ home: borrowing TempHome) throws -> Data {
        var d = try Data(contentsOf: URL(fileURLWithPath: home.dbPath))
        if let w = try? Data(contentsOf: URL(fileURLWithPath: home.dbPath + "-wal")) { d.append(w) }
        return d
    }

    @Test func theDatabaseHoldsOnlyCiphertext() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "A"), by: admin)
        let plain = try template(for: p.id!, seed: 2.5)
        let stored = try db.templates.add(plain, by: admin)
        try db.writer.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let e = try Embedding(serialized: [UInt8](plain.embedding))
        let rawFloats = e.values.prefix(8).withUnsafeBytes { Data($0) }
        #expect(try fileBytes(home).range(of: rawFloats) == nil)
        #expect(try fileBytes(home).range(of: Data("WEMB".utf8)) == nil)
        #expect(try db.templates.embedding(of: stored) == e)
    }

    @Test func aTemplateMovedToAnotherPersonDoesNotDecrypt() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let a = try db.people.add(Person(displayName: "A"), by: admin), b = try db.people.add(Person(displayName: "B"), by: admin)
        let t = try db.templates.add(try template(for: a.id!), by: admin)
        try db.writer.write { try $0.execute(sql: "UPDATE faceTemplate SET personId = ? WHERE id = ?", arguments: [b.id!, t.id!]) }
        let moved = try #require(try db.templates.forPerson(b.id!).first)
        #expect(throws: TemplateCipherError.authenticationFailed) { try db.templates.embedding(of: moved) }
        var relabelled = moved
        relabelled.personId = a.id!
        relabelled.modelID = "some-other-model"
        #expect(throws: TemplateCipherError.authenticationFailed) { try db.templates.embedding(of: relabelled) }
    }

    @Test func theKeyIsOwnerOnlyAndAReadableKeyIsRefused() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let attrs = try FileManager.default.attributesOfItem(atPath: db.keyPath)
        #expect(attrs[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: (db.keyPath as NSString).deletingLastPathComponent)[.posixPermissions] as? Int == 0o700)
        chmod(db.keyPath, 0o644)
        #expect { try WardenDatabase(home: home.path) } throws: { "\($0)".contains("chmod 600") && "\($0)".contains("readable by others") }
        chmod(db.keyPath, 0o600)
        _ = try WardenDatabase(home: home.path)
    }

    @Test func rotationReencryptsEverything() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "A"), by: admin)
        for i in 0..<5 { _ = try db.templates.add(try template(for: p.id!, seed: Float(i) + 1), by: admin) }
        let before = try db.templates.forPerson(p.id!).map { try db.templates.embedding(of: $0) }
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: db.keyPath))
        #expect(try db.rotateTemplateKey() == 5)
        #expect(try Data(contentsOf: URL(fileURLWithPath: db.keyPath)) != oldKey)
        #expect(try db.templates.forPerson(p.id!).map { try db.templates.embedding(of: $0) } == before)
        // A fresh process with the key file reads them too.
        let again = try WardenDatabase(home: home.path)
        #expect(try again.templates.forPerson(p.id!).map { try again.templates.embedding(of: $0) } == before)
    }

    /// A crash inside the rotation transaction leaves all templates under the old key.
    @Test func aCrashMidRotationLeavesAllOld() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let p = try db.people.add(Person(displayName: "A"), by: admin)
        for i in 0..<4 { _ = try db.templates.add(try template(for: p.id!, seed: Float(i) + 1), by: admin) }
        let ids = try Set(db.templates.forPerson(p.id!).map { TemplateCipher.keyID(of: $0.embedding)! })
        #expect(throws: TemplateCipherError.self) { try db.rotateTemplateKey(failAfter: 2) }
        let after = try db.templates.forPerson(p.id!)
        #expect(Set(after.map { TemplateCipher.keyID(of: $0.embedding)! }) == ids)  // all old
        #expect(!FileManager.default.fileExists(atPath: db.keyPath + ".new"))
        let reopened = try WardenDatabase(home: home.path)
        #expect(try reopened.templates.forPerson(p.id!).allSatisfy { (try? reopened.templates.embedding(of: $0)) != nil })
    }

    /// A crash after the transaction committed but before the new key was installed: the
    /// next start adopts the new key, so all templates are readable, all under it.
    @Test func aCrashAfterCommitAdoptsTheNewKey() throws {
        let home = try TempHome()
        let keyPath = TemplateKeyFile.path(home: home.path)
        var oldKey = Data()
        do {
            let db = try WardenDatabase(home: home.path)
            let p = try db.people.add(Person(displayName: "A"), by: admin)
            for i in 0..<3 { _ = try db.templates.add(try template(for: p.id!, seed: Float(i) + 1), by: admin) }
            oldKey = try Data(contentsOf: URL(fileURLWithPath: keyPath))
            _ = try db.rotateTemplateKey()
        }
        // Put the files back as they were between commit and rename.
        let newKey = try Data(contentsOf: URL(fileURLWithPath: keyPath))
        FileManager.default.createFile(atPath: keyPath + ".new", contents: newKey, attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: keyPath, contents: oldKey, attributes: [.posixPermissions: 0o600])
        let db = try WardenDatabase(home: home.path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: keyPath)) == newKey)
        #expect(!FileManager.default.fileExists(atPath: keyPath + ".new"))
        #expect(try db.templates.forPerson(1).count == 3 && db.templates.forPerson(1).allSatisfy { (try? db.templates.embedding(of: $0)) != nil })
    }

    @Test func plaintextTemplatesFromBeforeEncryptionAreSealedOnOpen() throws {
        let home = try TempHome()
        let e = try Embedding(raw: (0..<128).map { Float($0) })
        do {
            let db = try WardenDatabase(home: home.path)
            let p = try db.people.add(Person(displayName: "Old"), by: admin)
            try db.writer.write { d in
                try d.execute(sql: """
                    INSERT INTO faceTemplate (personId, embedding, modelID, interEyeDistance, sharpness, yaw, roll, detectionScore, sourceSHA256, sourceName, createdBy, createdAt)
                    VALUES (?, ?, ?, 80, 300, 0, 0, 1, 'x', 'old.jpg', 'v1', '2026-01-01')
                    """, arguments: [p.id!, Data(e.serialized()), e.modelID])
            }
        }
        let db = try WardenDatabase(home: home.path)
        let t = try #require(try db.templates.forPerson(1).first)
        #expect(TemplateCipher.keyID(of: t.embedding) != nil)
        #expect(try db.templates.embedding(of: t) == e)
    }
}
