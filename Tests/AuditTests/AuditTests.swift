import Foundation
import GRDB
import Testing
@testable import Audit

final class TempDir {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-audit-\(UUID())").path
    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// One event of every kind with every field set.
func sampleEvents(at base: Date = Date(timeIntervalSince1970: 1_796_000_000)) -> [AuditEvent] {
    let berlin = TimeZone(identifier: "Europe/Berlin")
    return [
        AuditEvent(at: base, kind: .decision, type: "access.granted", door: "lobby", zone: "building", reader: "r1", camera: "c1",
                   badge: "12:345", personID: 7, personName: "Ada, \"the\" Countess", result: "granted",
                   factors: [FactorResult(factor: "badge", ok: true), FactorResult(factor: "face", ok: true, detail: "1:1")],
                   face: FaceEvidence(distance: 0.2875, threshold: 0.41, margin: 0.1225, quality: 0.93, frames: 4, modelID: "dlib_face_recognition_resnet_model_v1"),
                   rule: "grant:staff/building", reasons: [], doorAction: "released 5s", siteTimeZone: berlin),
        AuditEvent(at: base.addingTimeInterval(1), kind: .decision, type: "access.denied", door: "server-room", zone: "dc", badge: "12:999",
                   result: "denied", factors: [FactorResult(factor: "badge", ok: false)], rule: "default-deny",
                   reasons: ["badge_unknown"], doorAction: "stayed locked", siteTimeZone: berlin),
        AuditEvent(at: base.addingTimeInterval(2), kind: .door, type: "door.forced_open", door: "server-room", detail: ["contact": "open"]),
        AuditEvent(at: base.addingTimeInterval(3), kind: .door, type: "door.held_open", door: "lobby"),
        AuditEvent(at: base.addingTimeInterval(4), kind: .system, type: "system.camera_fault", camera: "c1", detail: ["reason": "frozen feed"]),
        AuditEvent.admin("admin.enroll", operator: "alice", subject: "person:7", detail: ["template": "3"], at: base.addingTimeInterval(5)),
    ]
}

@Suite("Audit log", .serialized)
struct AuditTests {
    @Test func everyEventKindRoundTripsThroughTheCanonicalForm() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        let written = try store.append(sampleEvents())
        #expect(written.map(\.seq) == [1, 2, 3, 4, 5, 6])
        var read: [AuditEvent] = []
        try store.forEachRow { _, e in read.append(e) }
        #expect(read == written)
        // Canonical: re-encoding gives the same bytes, keys sorted, no whitespace.
        try store.forEachRow { row, e in
            let again = try CanonicalEncoding.encode(e)
            #expect(again == row.payload)
            #expect(!row.payload.contains(" \"") && !row.payload.contains("\n"))
        }
        #expect(written[0].siteLocalTime == "2026-11-30T01:53:20+01:00")
        #expect(AuditTime.utc(Date(timeIntervalSince1970: 1_795_924_400.123)) == "2026-11-29T03:53:20.123Z")
        #expect(abs(AuditTime.parseUTC("2026-11-29T03:53:20.123Z")!.timeIntervalSince1970 - 1_795_924_400.123) < 1e-6)
        #expect(AuditTime.parseUTC("2026-11-29 03:53:20.123Z") == nil)
        // A millisecond read back from text prints as itself, though binary cannot hold it
        // exactly (.864 is .86399999…): `audit export --to` compares with what was typed.
        for ms in 0..<1000 {
            let text = String(format: "2026-12-03T03:16:22.%03dZ", ms)
            let d = Date(timeIntervalSince1970: 1_796_267_782 + Double(ms) / 1000)
            #expect(AuditTime.utc(d) == text && AuditTime.utc(AuditTime.parseUTC(text)!) == text, "\(text)")
        }
        // The hand-written form is exactly the printf one it replaced (the hashes depend on it),
        // every millisecond, and round-trips.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let d = Date(timeIntervalSince1970: Double(Int64.random(in: -62_000_000_000...250_000_000_000, using: &rng)) / 1000 * 1000 + Double(Int.random(in: 0...999)) / 1000)
            let us = Int64((d.timeIntervalSince1970 * 1_000_000).rounded())
            var ms = us >= 0 ? us / 1000 : (us - 999) / 1000; var secs = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
            ms -= Int64(secs) * 1000
            var t = tm(); gmtime_r(&secs, &t)
            let printf = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(t.tm_year) + 1900, Int(t.tm_mon) + 1, Int(t.tm_mday), Int(t.tm_hour), Int(t.tm_min), Int(t.tm_sec), Int(ms))
            #expect(AuditTime.utc(d) == printf, "\(d.timeIntervalSince1970)")
        }
        // Summer time: the same zone is two hours ahead in July.
        #expect(AuditTime.local(Date(timeIntervalSince1970: 1_783_000_000), in: TimeZone(identifier: "Europe/Berlin")!).hasSuffix("+02:00"))
    }

    @Test func anIntactChainVerifies() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        for _ in 0..<5 { try store.append(sampleEvents()) }
        let r = try store.verify()
        #expect(r.ok && r.count == 30)
    }

    /// Each kind of tampering is caught, and the report names the first broken row.
    @Test(arguments: ["edit-payload", "edit-column", "delete-row", "reorder", "swap-payloads", "truncate-tail", "rehash-one"])
    func tamperingIsCaught(_ attack: String) throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        for _ in 0..<3 { try store.append(sampleEvents()) }  // rows 1...18
        try store.writer.write { db in
            switch attack {
            case "edit-payload":
                try db.execute(sql: "UPDATE auditEvent SET payload = replace(payload, 'granted', 'denied') WHERE seq = 7")
            case "edit-column":
                try db.execute(sql: "UPDATE auditEvent SET result = 'granted' WHERE seq = 8")
            case "delete-row":
                try db.execute(sql: "DELETE FROM auditEvent WHERE seq = 9")
            case "reorder":
                try db.execute(sql: "UPDATE auditEvent SET seq = -1 WHERE seq = 10")
                try db.execute(sql: "UPDATE auditEvent SET seq = 10 WHERE seq = 11")
                try db.execute(sql: "UPDATE auditEvent SET seq = 11 WHERE seq = -1")
            case "swap-payloads":
                try db.execute(sql: """
                    UPDATE auditEvent SET payload = (SELECT payload FROM auditEvent WHERE seq = 13), hash = (SELECT hash FROM auditEvent WHERE seq = 13) WHERE seq = 12
                    """)
            case "truncate-tail":
                try db.execute(sql: "DELETE FROM auditEvent WHERE seq > 15")
            case "rehash-one":
                // An attacker who recomputes the edited row's own hash still breaks the next link.
                let row = try Row.fetchOne(db, sql: "SELECT payload, prevHash FROM auditEvent WHERE seq = 5")!
                let payload = (row["payload"] as String).replacingOccurrences(of: "camera_fault", with: "camera_recovered")
                let hash = AuditStore.chainHash(prev: row["prevHash"], payload: payload)
                try db.execute(sql: "UPDATE auditEvent SET payload = ?, hash = ? , type = 'system.camera_recovered' WHERE seq = 5", arguments: [payload, hash])
            default: Issue.record("unknown attack")
            }
        }
        let r = try store.verify()
        #expect(!r.ok, "\(attack) went unnoticed")
        let expected: [String: Int64] = ["edit-payload": 7, "edit-column": 8, "delete-row": 10, "reorder": 10, "swap-payloads": 12,
                                         "truncate-tail": 16, "rehash-one": 6]
        #expect(r.firstBrokenSeq == expected[attack], "\(r.problem ?? "")")
        #expect(r.problem != nil)
    }

    /// A new log's head is written before its first row (row 0, the genesis), so another
    /// writer never sees rows beside no head; it does not count as history until a row is.
    @Test func aNewLogIsAnchoredBeforeItsFirstRow() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        #expect(FileManager.default.fileExists(atPath: store.headPath))
        #expect(try store.discontinuity() == nil)
        #expect(!AuditStore.headRecordsRows(home: dir.path))
        try store.append(Array(sampleEvents().prefix(2)))
        #expect(AuditStore.headRecordsRows(home: dir.path))
        #expect(try store.discontinuity() == nil)
    }

    @Test func concurrentWritersKeepOneChain() throws {
        let dir = TempDir()
        let a = try AuditStore(home: dir.path), b = try AuditStore(home: dir.path)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for _ in 0..<10 { _ = try? (i % 2 == 0 ? a : b).append(Array(sampleEvents().prefix(3))) }
        }
        let r = try a.verify()
        #expect(r.ok && r.count == 240)
    }

    @Test func theWriterQueuesCommitsAndAcknowledges() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        let acked = Counter()
        let log = AuditLog(store: store, batchSize: 7) { acked.add($0.count) }
        for i in 0..<500 { log.record(AuditEvent(kind: .system, type: "system.tick", detail: ["i": String(i)])) }
        #expect(log.flush())
        #expect(acked.value == 500)
        #expect(try store.count() == 500)
        #expect(try store.verify().ok)
        log.close()
    }

    /// A full disk degrades the log without losing what fits in the ring; when space comes
    /// back, the kept events are written, with events saying the log was degraded.
    @Test func aFullDiskDegradesAndRecovers() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        try store.append(sampleEvents())
        let pages = try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA page_count")! }
        try store.setMaxPageCount(pages + 2)
        let log = AuditLog(store: store, capacity: 5_000, batchSize: 50, retryInterval: 0.05)
        let big = String(repeating: "x", count: 2000)
        for i in 0..<300 { log.record(AuditEvent(kind: .system, type: "system.tick", detail: ["i": String(i), "pad": big])) }
        #expect(!log.flush(timeout: 0.5))
        guard case .degraded(let reason, _, let pending) = log.state else { Issue.record("log did not degrade"); return }
        #expect(reason.contains("disk full"))
        #expect(pending > 0)
        try store.setMaxPageCount(1_000_000)
        var recovered = false
        recovered = log.flush(timeout: 20)
        #expect(recovered)
        #expect(log.state == .ok)
        var types: [String] = [], ticks = Set<String>()
        try store.forEachRow { _, e in types.append(e.type); if e.type == "system.tick" { ticks.insert(e.detail!["i"]!) } }
        #expect(ticks.count == 300)
        #expect(types.contains("system.log_degraded") && types.contains("system.log_recovered"))
        #expect(try store.verify().ok)
        log.close()
    }

    @Test func anOverflowingRingCountsWhatWasLost() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        try store.append(sampleEvents())
        let pages = try store.writer.read { try Int.fetchOne($0, sql: "PRAGMA page_count")! }
        try store.setMaxPageCount(pages)
        let log = AuditLog(store: store, capacity: 100, batchSize: 10, retryInterval: 0.05)
        let big = String(repeating: "y", count: 3000)
        for i in 0..<250 { log.record(AuditEvent(kind: .system, type: "system.tick", detail: ["i": String(i), "pad": big])) }
        #expect(!log.flush(timeout: 1))
        try store.setMaxPageCount(1_000_000)
        #expect(log.flush(timeout: 20))
        var lost: String? = nil, last = -1
        try store.forEachRow { _, e in
            if e.type == "system.log_recovered" { lost = e.detail?["events_lost"] }
            if e.type == "system.tick" { last = Int(e.detail!["i"]!)! }
        }
        #expect(lost == "150")
        #expect(last == 249)  // the newest events are the ones kept
        #expect(try store.verify().ok)
        log.close()
    }

    @Test func exportsRoundTripAndFilter() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        let events = try store.append(sampleEvents())
        var csv = ""
        let n = try AuditExporter.export(store, filter: AuditFilter(), format: .csv) { csv += $0 }
        #expect(n == 6)
        let records = AuditExporter.parseCSV(csv)
        #expect(records.first == AuditExporter.csvColumns)
        #expect(records.count == 7)
        #expect(csv.hasSuffix("\r\n"))
        var hashes: [String] = []
        try store.forEachRow { row, _ in hashes.append(row.hash) }
        for (i, e) in events.enumerated() { #expect(records[i + 1] == AuditExporter.csvFields(e, hash: hashes[i])) }
        #expect(records[1][11] == "Ada, \"the\" Countess")  // quoted, comma and quotes intact

        var jsonl: [String] = []
        _ = try AuditExporter.export(store, filter: AuditFilter(), format: .jsonl) { jsonl.append($0) }
        for (i, line) in jsonl.enumerated() {
            #expect(line.hasSuffix("\n"))
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(obj["hash"] as? String == hashes[i])
            var decoded = try CanonicalEncoding.decode(line)
            decoded.seq = events[i].seq
            #expect(decoded == events[i])
        }

        func count(_ f: AuditFilter) throws -> Int { try AuditExporter.export(store, filter: f, format: .jsonl) { _ in } }
        #expect(try count(AuditFilter(door: "server-room")) == 2)
        #expect(try count(AuditFilter(result: "denied")) == 1)
        // A person's events include the admin changes about them.
        #expect(try count(AuditFilter(personID: 7)) == 2)
        #expect(try count(AuditFilter(from: events[2].at, to: events[4].at)) == 2)
    }

    @Test func csvNeutralisesFormulas() {
        #expect(AuditExporter.csvLine(["=HYPERLINK(\"x\")", "-3", "@a"]) == "\"'=HYPERLINK(\"\"x\"\")\",-3,'@a\r\n")
    }

    @Test func pruningArchivesFirstAndTheRestStillVerifies() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        let events = try store.append(sampleEvents())
        let archive = dir.path + "/archive.jsonl"
        let r = try store.prune(before: events[3].at, archive: archive) { n, anchor in
            AuditEvent.admin("admin.audit_prune", operator: "ops", subject: "audit", detail: ["pruned": String(n), "anchor_seq": String(anchor)])
        }
        #expect(r.pruned == 3 && r.anchorSeq == 3)
        let lines = try String(contentsOfFile: archive, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let v = try store.verify()
        // The three left, and the prune's own record, written with the deletion.
        #expect(v.ok && v.count == 4 && v.anchorSeq == 3)
        try store.append(sampleEvents())
        #expect(try store.verify().ok)
        // Deleting the first row after the anchor is still caught.
        try store.writer.write { try $0.execute(sql: "DELETE FROM auditEvent WHERE seq = 4") }
        #expect(try store.verify().firstBrokenSeq == 5)
        // No partial archive is left when the archive cannot be finished, and nothing is pruned.
        let before = try store.count()
        #expect(throws: AuditError.self) {
            try store.prune(before: Date(), archive: dir.path + "/no-such-dir/a.jsonl") { _, _ in
                AuditEvent.admin("admin.audit_prune", operator: "ops", subject: "audit")
            }
        }
        #expect(try store.count() == before)
    }

    @Test func statsCountPerDoorAndDay() throws {
        let dir = TempDir()
        let store = try AuditStore(home: dir.path)
        try store.append(sampleEvents())
        let stats = try AuditStats.compute(store, filter: AuditFilter())
        let server = try #require(stats.buckets.first { $0.door == "server-room" })
        #expect(server.denied == 1 && server.deniedByReason == ["badge_unknown": 1] && server.alarms == ["door.forced_open": 1])
        let lobby = try #require(stats.buckets.first { $0.door == "lobby" })
        #expect(lobby.granted == 1 && lobby.alarms == ["door.held_open": 1])
    }

    @Test func aNewerSchemaIsRefused() throws {
        let dir = TempDir()
        do { let s = try AuditStore(home: dir.path); try s.writer.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('v9-future')") } }
        #expect(throws: AuditError.self) { try AuditStore(home: dir.path) }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add(_ k: Int) { lock.lock(); n += k; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
