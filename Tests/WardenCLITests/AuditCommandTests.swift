import Audit
import Foundation
import WardenCore
import Testing

@Suite("warden audit", .serialized)
struct AuditCommandTests {
    /// Kill the writer with SIGKILL mid-stream: every event acknowledged before the kill is
    /// on disk and the chain verifies.
    @Test func sigkillLosesNoAcknowledgedEvent() throws {
        let binary = try #require(CLI.binary)
        let home = CLI.Home()
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = binary
        p.arguments = ["bench", "audit", "--events", "0", "--ack"]
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home.path
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var text = "", acks = 0
        let deadline = Date().addingTimeInterval(30)
        while acks < 40 && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            acks = text.components(separatedBy: "ack ").count - 1
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        // Only whole lines count as acknowledged.
        let complete = text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
        let lastAck = complete.split(separator: "\n").compactMap { Int64($0.dropFirst(4)) }.max() ?? 0
        #expect(lastAck > 0, "the writer acknowledged nothing before the kill")

        let store = try AuditStore(home: home.path)
        let report = try store.verify()
        #expect(report.ok, "\(report.problem ?? "")")
        #expect(try store.lastSeq() >= lastAck)
        var seen: Int64 = 0
        try store.forEachRow { row, _ in seen += 1; #expect(row.seq == seen) }
        #expect(seen >= lastAck)
    }

    @Test func verifyExportAndStatsFromTheCLI() throws {
        let home = CLI.Home()
        #expect(try CLI.run(["person", "add", "Grace", "--operator", "ops-1"], home: home).status == 0)
        #expect(try CLI.run(["badge", "issue", "Grace", "7:77", "--operator", "ops-1"], home: home).status == 0)
        let ok = try CLI.run(["audit", "verify"], home: home)
        #expect(ok.status == 0 && ok.stdout.contains("OK: 2 events"))
        let csv = try CLI.run(["audit", "export"], home: home)
        let rows = AuditExporter.parseCSV(csv.stdout)
        #expect(rows.count == 3 && rows[0] == AuditExporter.csvColumns)
        #expect(rows[1][4] == "admin.person_add" && rows[1][23] == "ops-1")
        let jsonl = try CLI.run(["audit", "export", "--format", "jsonl"], home: home)
        #expect(jsonl.stdout.split(separator: "\n").count == 2)
        // --json alone is JSON Lines (it printed CSV); --json with --format csv is refused.
        let json = try CLI.run(["audit", "export", "--json"], home: home)
        #expect(json.status == 0 && json.stdout == jsonl.stdout, "\(json.stdout.prefix(200))")
        #expect(json.stdout.split(separator: "\n").allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        let both = try CLI.run(["audit", "export", "--json", "--format", "csv"], home: home)
        // Under --json the refusal is JSON too, on stdout.
        let refusal = (try? both.json() as? [String: Any])?["error"] as? String
        #expect(both.status != 0 && refusal?.contains("--json writes JSON Lines") == true, "\(both.stdout) \(both.stderr)")
        // `tail -n`, as docs/audit.md shows it and as tail takes it.
        let tail = try CLI.run(["audit", "tail", "-n", "1", "--no-follow"], home: home)
        #expect(tail.status == 0 && tail.stdout.split(separator: "\n").count == 1, "\(tail.stdout) \(tail.stderr)")
        // Every program says its version.
        let version = try CLI.run(["--version"], home: home)
        #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == WardenVersion.current)

        // Tamper with the file behind Warden's back: verify fails and names the row.
        let store = try AuditStore(home: home.path)
        try store.append([AuditEvent(kind: .system, type: "system.start")])
        let db = home.url.appendingPathComponent(AuditStore.fileName).path
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update auditEvent set payload=replace(payload,'Grace','Grave') where seq=1\"); c.commit()", db]
        try sqlite.run(); sqlite.waitUntilExit()
        let broken = try CLI.run(["audit", "verify", "--json"], home: home)
        #expect(broken.status == 1)
        let chain = (try broken.json() as? [String: Any])?["chain"] as? [String: Any]
        #expect(chain?["firstBrokenSeq"] as? Int == 1)
    }
}
