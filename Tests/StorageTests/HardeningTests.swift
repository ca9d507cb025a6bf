import FaceKit
import Foundation
import GRDB
import Storage
import Testing
import WardenCore

/// Keys and erasure (issue 24, class C), and input hygiene at the store (class D).
@Suite("Storage hardening", .serialized)
struct StorageHardeningTests {
    func bytes(_ path: String) -> Data { (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data() }

    /// D8: a missing key with templates stored is refused, never silently regenerated.
    @Test func aMissingKeyIsNotRegeneratedWhileTemplatesExist() throws {
        let home = try TempHome()
        let keyPath = home.path + "/keys/template.key"
        do {
            let db = try WardenDatabase(home: home.path)
            let p = try db.people.add(Person(displayName: "A"), by: admin)
            _ = try db.templates.add(try template(for: p.id!), by: admin)
        }
        try FileManager.default.removeItem(atPath: keyPath)
        #expect { try WardenDatabase(home: home.path) } throws: { "\($0)".contains("is missing") && "\($0)".contains("1 stored template") }
        #expect(!FileManager.default.fileExists(atPath: keyPath), "a new key was created")
        // A replaced key (another 32 bytes, owner-only) is refused too, with the count it cannot open.
        FileManager.default.createFile(atPath: keyPath, contents: Data((0..<32).map { UInt8($0) }), attributes: [.posixPermissions: 0o600])
        #expect { try WardenDatabase(home: home.path) } throws: { "\($0)".contains("does not open 1 of 1") }
        // A home with no templates still gets its key on first use.
        let fresh = try TempHome()
        _ = try WardenDatabase(home: fresh.path)
        #expect(FileManager.default.fileExists(atPath: fresh.path + "/keys/template.key"))
    }

    /// D19: after an erasure, with another process holding the database (as `warden run`
    /// does), the removed template's ciphertext is in neither the file nor its WAL once
    /// the log is checkpointed and truncated.
    @Test func anErasedTemplateCannotBeCarvedFromTheWriteAheadLog() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        let controller = try WardenDatabase(home: home.path)  // the running controller's connection
        let p = try db.people.add(Person(displayName: "Gone"), by: admin)
        let t = try db.templates.add(try template(for: p.id!), by: admin)
        _ = try controller.templates.count()
        let ciphertext = try #require(try db.templates.forPerson(p.id!).first).embedding
        #expect(ciphertext.count > 32 && t.id != nil)
        let needle = ciphertext.suffix(32)
        func carve() -> Bool {
            bytes(home.dbPath).range(of: needle) != nil || bytes(home.dbPath + "-wal").range(of: needle) != nil
        }
        #expect(carve(), "the test cannot see the ciphertext it looks for")
        _ = try db.people.remove(p.id!, by: admin)
        #expect(carve(), "without a checkpoint the WAL still holds the old page (the defect)")
        try db.checkpointAndTruncateLog()
        #expect(!carve(), "the removed template's ciphertext survived the erasure")
        #expect(bytes(home.dbPath + "-wal").count == 0)
        // The controller's connection stayed open throughout, as `warden run`'s does.
        _ = try controller.people.list()
    }

    /// D20: a key rotated by another process is picked up by the running one; before that,
    /// its templates are an error, never a silently empty gallery.
    @Test func aRotatedKeyIsPickedUpByTheOtherProcess() throws {
        let home = try TempHome()
        let running = try WardenDatabase(home: home.path)
        let p = try running.people.add(Person(displayName: "A"), by: admin)
        _ = try running.templates.add(try template(for: p.id!), by: admin)
        let cli = try WardenDatabase(home: home.path)
        #expect(try cli.rotateTemplateKey(by: admin) == 1)
        let stale = try #require(try running.templates.all(modelID: ModelSet.recognitionModelID).first)
        #expect(throws: (any Error).self) { try running.templates.embedding(of: stale) }
        try running.reloadKeyIfRotated()
        #expect(try running.templates.embedding(of: stale).values.count == 128)
    }

    /// D17: control characters and terminal escapes are refused in names, external ids and
    /// group names.
    @Test func controlCharactersAreRefusedOnInput() throws {
        let home = try TempHome()
        let db = try WardenDatabase(home: home.path)
        for bad in ["Eve\nInjected row", "\u{1B}[31mRed", "Tab\there", "bidi\u{202E}evil"] {
            #expect(throws: StorageError.self) { try db.people.add(Person(displayName: bad), by: admin) }
            #expect(throws: StorageError.self) { try db.people.add(Person(displayName: "Ok", externalID: bad), by: admin) }
            #expect(throws: StorageError.self) { try db.access.createGroup(bad, by: admin) }
        }
        #expect(try db.people.list().isEmpty)
        #expect(try db.people.add(Person(displayName: "Zoë O'Brien-Łukasz 李"), by: admin).id != nil)
        #expect(DisplayText.escapingControls("a\u{1B}[2Jb\nc") == "a\\u{1B}[2Jb\\u{0A}c")
        #expect(Operator.problem(with: "ops\nfake") != nil && Operator.problem(with: "ops-1") == nil)
    }

    /// D5: a damaged page is found by the start-up check.
    @Test func aDamagedPageIsFoundByTheIntegrityCheck() throws {
        let home = try TempHome()
        do {
            let db = try WardenDatabase(home: home.path)
            for i in 0..<200 { _ = try db.people.add(Person(displayName: "Person \(i)", externalID: "E\(i)"), by: admin) }
            #expect(db.integrityProblem() == nil)
            try db.checkpointAndTruncateLog()
        }
        let (root, pageSize): (Int, Int) = try {
            let q = try DatabaseQueue(path: home.dbPath)
            return try q.read { (try Int.fetchOne($0, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'person'")!,
                                 try Int.fetchOne($0, sql: "PRAGMA page_size")!) }
        }()
        let h = try #require(FileHandle(forUpdatingAtPath: home.dbPath))
        try h.seek(toOffset: UInt64((root - 1) * pageSize))
        var rng = SplitMix64(seed: 7)
        h.write(Data((0..<pageSize).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        try h.close()
        let db = try WardenDatabase(home: home.path)
        #expect(db.integrityProblem() != nil)
    }
}
