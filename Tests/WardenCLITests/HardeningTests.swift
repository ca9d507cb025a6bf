import Board
import CommandSupport
import Audit
import Controller
import Foundation
import GRDB
import Storage
import Testing
@testable import WardenCLI
import WardenCore

/// Issue 24: the probe's defects, each as the user meets it, through the `warden` binary.
@Suite("Hardening: audit and state integrity", .serialized)
struct AuditIntegrityTests {
    func w(_ home: CLI.Home, _ a: String...) throws -> CLI.Result { try CLI.run(a, home: home) }
    func people(_ home: CLI.Home) throws -> Int {
        ((try w(home, "person", "list", "--json").json()) as? [Any])?.count ?? -1
    }

    /// D2: a change whose audit event cannot be written is refused, and nothing changes.
    @Test func aChangeIsRefusedWhileTheAuditLogIsLocked() throws {
        let home = CLI.Home()
        #expect(try w(home, "person", "add", "First").status == 0)
        let audit = try DatabaseQueue(path: home.path + "/audit.sqlite")
        let holding = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread {
            try? audit.inDatabase { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                holding.signal()
                done.wait()
                try db.execute(sql: "ROLLBACK")
            }
        }.start()
        holding.wait()
        let r = try w(home, "person", "add", "Unaudited")
        done.signal()
        #expect(r.status != 0)
        #expect(r.stderr.contains("refused") && r.stderr.contains("nothing was changed"), "\(r.stderr)")
        #expect(try people(home) == 1)
        let v = try w(home, "audit", "verify")
        #expect(v.status == 0, "\(v.stdout)")
    }

    /// D2, the disk-full variant at the store: the change rolls back with its event.
    @Test func aChangeRollsBackWhenTheAuditLogIsFull() throws {
        let home = CLI.Home()
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        let store = try AuditStore(home: home.path)
        let db = try WardenDatabase(home: home.path, auditor: AuditedChanges(store: store))
        _ = try db.people.add(Person(displayName: "Fits"), by: Operator("t"))
        let pages = try store.count() + 2
        try store.setMaxPageCount(pages)
        var added = 0
        for i in 0..<200 {
            do { _ = try db.people.add(Person(displayName: "Person \(i) " + String(repeating: "x", count: 150)), by: Operator("t")); added += 1 } catch {
                #expect("\(error)".contains("refused"))
                break
            }
        }
        #expect(added < 200, "the audit log never filled")
        try store.setMaxPageCount(100_000)
        // Every person in the database has its event: nothing unaccounted.
        let r = try ChangeReconciliation.run(db: db, audit: store)
        #expect(r.unaccounted.isEmpty, "\(r.unaccounted)")
        #expect(try db.people.list().count == added + 1)
    }

    /// D2: SIGKILL at any instant of `person add` never leaves a change without its event.
    @Test func aKilledChangeIsNeverLeftUnaudited() throws {
        let home = CLI.Home()
        #expect(try w(home, "person", "add", "Seed").status == 0)
        let binary = try #require(CLI.binary)
        var rng = SplitMix64(seed: 24)
        for i in 0..<40 {
            let p = Process()
            p.executableURL = binary
            p.arguments = ["person", "add", "Killed \(i)"]
            var env = ProcessInfo.processInfo.environment
            env["WARDEN_HOME"] = home.path
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(10_000 + rng.next() % 90_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let v = try w(home, "audit", "verify", "--json")
        let report = try #require(try v.json() as? [String: Any])
        let changes = report["changes"] as? [String: Any]
        #expect((changes?["unaccounted"] as? [String])?.isEmpty == true, "\(v.stdout)")
        #expect(v.status == 0, "\(v.stdout)")
    }

    /// D2: rows that no event accounts for are reported by verify (and at run start-up).
    @Test func verifyReportsRowsNoEventAccountsFor() throws {
        let home = CLI.Home()
        #expect(try w(home, "person", "add", "Audited").status == 0)
        do {
            // A change made without an auditor, and a row put in by hand.
            let db = try WardenDatabase(home: home.path)
            _ = try db.people.add(Person(displayName: "No event"), by: Operator("t"))
            try db.writer.write { try $0.execute(sql: "INSERT INTO person (displayName, status, createdAt, updatedAt) VALUES ('Smuggled', 'active', '2026-01-01', '2026-01-01')") }
        }
        let v = try w(home, "audit", "verify")
        #expect(v.status == 1)
        #expect(v.stdout.contains("has no audit event"), "\(v.stdout)")
        #expect(v.stdout.contains("(Smuggled) was added without a recorded change"), "\(v.stdout)")
    }

    /// D6: a wiped log stops admin changes until acknowledged, and stays on the record.
    @Test func aWipedLogIsNeverSilentlyRestarted() throws {
        let home = CLI.Home()
        for n in ["A", "B", "C"] { #expect(try w(home, "person", "add", n).status == 0) }
        let log = home.path + "/audit.sqlite"
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: log + suffix) }
        try Data().write(to: URL(fileURLWithPath: log))
        let v = try w(home, "audit", "verify")
        #expect(v.status == 1 && v.stdout.contains("wiped"), "\(v.stdout)")
        for i in 0..<5 {
            let r = try w(home, "person", "add", "After \(i)")
            #expect(r.status != 0 && r.stderr.contains("acknowledge"), "\(r.stderr)")
        }
        #expect(try people(home) == 3)
        #expect(try w(home, "audit", "verify").status == 1, "the loss became undetectable")
        let ack = try w(home, "audit", "acknowledge", "--reason", "card replaced", "--operator", "alice")
        #expect(ack.status == 0, "\(ack.stderr)")
        #expect(try w(home, "person", "add", "Later").status == 0)
        let after = try w(home, "audit", "verify")
        #expect(after.status == 0, "\(after.stdout)")
        #expect(after.stdout.contains("acknowledged discontinuity") && after.stdout.contains("alice") && after.stdout.contains("card replaced"))
        #expect(try w(home, "audit", "acknowledge", "--reason", "again").status != 0, "nothing left to acknowledge")
    }

    /// D7: a missing, garbage or directory head is reported, and appends are refused.
    @Test func aMissingOrUnreadableHeadIsReported() throws {
        let home = CLI.Home()
        for i in 0..<6 { #expect(try w(home, "person", "add", "P\(i)").status == 0) }
        let head = home.path + "/audit.head"
        try FileManager.default.removeItem(atPath: head)
        try DatabaseQueue(path: home.path + "/audit.sqlite").write { try $0.execute(sql: "DELETE FROM auditEvent WHERE seq > 4") }
        var v = try w(home, "audit", "verify")
        #expect(v.status == 1 && v.stdout.contains("missing"), "\(v.stdout)")
        #expect(try w(home, "person", "add", "Refused").status != 0)
        try "garbage".write(toFile: head, atomically: true, encoding: .utf8)
        v = try w(home, "audit", "verify")
        #expect(v.status == 1 && v.stdout.contains("unreadable"), "\(v.stdout)")
        try FileManager.default.removeItem(atPath: head)
        try FileManager.default.createDirectory(atPath: head, withIntermediateDirectories: false)
        v = try w(home, "audit", "verify")
        #expect(v.status == 1 && v.stdout.contains("not a regular file"), "\(v.stdout)")
    }

    /// D10: an established home whose identity database is empty or gone is refused.
    @Test func anEmptiedIdentityDatabaseIsNotReinitialised() throws {
        let home = CLI.Home()
        #expect(try w(home, "person", "add", "Kept").status == 0)
        let db = home.path + "/identity.sqlite"
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        try Data().write(to: URL(fileURLWithPath: db))
        let r = try w(home, "person", "add", "Would be #1 again")
        #expect(r.status != 0 && r.stderr.contains("empty"), "\(r.stderr)")
        #expect((try FileManager.default.attributesOfItem(atPath: db)[.size] as? Int) == 0)
        try FileManager.default.removeItem(atPath: db)
        let l = try w(home, "person", "list")
        #expect(l.status != 0 && l.stderr.contains("missing"), "\(l.stderr)")
    }

    /// Decision: `audit export --person` includes the admin events about that person.
    @Test func aPersonsExportIncludesTheAdminChangesAboutThem() throws {
        let home = CLI.Home()
        #expect(try w(home, "person", "add", "Ann").status == 0)
        #expect(try w(home, "person", "add", "Bob").status == 0)
        #expect(try w(home, "badge", "issue", "Ann", "7:70").status == 0)
        let out = try w(home, "audit", "export", "--person", "1", "--format", "jsonl")
        let types = out.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.compactMap { $0["type"] as? String }
        #expect(types == ["admin.person_add", "admin.badge_issue"])
    }
}

/// D3, D4: a 100% full home, on a small tmpfs of its own (needs root to mount).
@Suite("Hardening: a full disk", .serialized, .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
struct FullDiskTests {
    @Test func readingCommandsWorkAndWritesFailCleanly() throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("warden-full-\(UUID())")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        defer { _ = shell("umount", mountPoint.path); try? FileManager.default.removeItem(at: mountPoint) }
        try #require(shell("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint.path) == 0)
        let home = mountPoint.appendingPathComponent("home").path
        func w(_ a: String...) throws -> CLI.Result { try CLI.run(a, home: CLI.Home(), environment: ["WARDEN_HOME": home]) }
        #expect(try w("person", "add", "Ann").status == 0)
        #expect(try w("person", "add", "Bob").status == 0)
        // Fill the disk to the last block.
        let filler = mountPoint.appendingPathComponent("filler").path
        FileManager.default.createFile(atPath: filler, contents: nil)
        let h = try #require(FileHandle(forWritingAtPath: filler))
        let block = Data(count: 64 << 10)
        while (try? h.write(contentsOf: block)) != nil {}
        try? h.close()
        let list = try w("person", "list")
        #expect(list.status == 0 && list.stdout.contains("Ann") && list.stdout.contains("Bob"), "\(list.stderr)")
        let verify = try w("audit", "verify")
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(try w("audit", "export").stdout.contains("admin.person_add"))
        // An export onto the full disk fails with words, and leaves no partial file.
        let out = mountPoint.appendingPathComponent("export.csv").path
        let export = try w("audit", "export", "-o", out)
        #expect(export.status != 0 && export.stderr.contains("full"), "\(export.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint.path).allSatisfy { !$0.contains("partial") })
        // A change is refused, says the disk is full and how to recover, and nothing changed.
        let add = try w("person", "add", "Carl")
        #expect(add.status != 0 && add.stderr.contains("full") && add.stderr.contains("audit export"), "\(add.stderr)")
        try FileManager.default.removeItem(atPath: filler)
        #expect(try w("person", "list").stdout.contains("Carl") == false)
        #expect(try w("audit", "verify").status == 0)
    }

    func shell(_ args: String...) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}

@Suite("Hardening: input hygiene", .serialized)
struct InputHygieneTests {
    func w(_ home: CLI.Home, _ a: String...) throws -> CLI.Result { try CLI.run(a, home: home) }

    /// D17: names with control characters are refused; stored ones print escaped.
    @Test func controlCharactersNeitherGetInNorComeOutRaw() throws {
        let home = CLI.Home()
        let forged = try w(home, "person", "add", "Eve\n    2  active    0      fake")
        #expect(forged.status != 0 && forged.stderr.contains("control characters"))
        #expect(try w(home, "person", "add", "Ok", "--operator", "ops\nfake").status != 0)
        #expect(try w(home, "person", "add", "Real").status == 0)
        // A name stored before the rule (written behind Warden's back).
        try DatabaseQueue(path: home.path + "/identity.sqlite").write { try $0.execute(sql: "UPDATE person SET displayName = 'Mal\u{1B}[2Jlory' WHERE id = 1") }
        let list = try w(home, "person", "list")
        #expect(!list.stdout.contains("\u{1B}") && list.stdout.contains("Mal\\u{1B}[2Jlory"), "\(list.stdout)")
    }

    /// D18: dates are parsed strictly, and the export's own timestamps are accepted.
    @Test func datesAreStrict() throws {
        let home = CLI.Home()
        #expect(try w(home, "person", "add", "X", "--valid-until", "2027-06-30garbage").status != 0)
        #expect(try w(home, "person", "add", "X", "--valid-until", "2027-02-30").status != 0)
        #expect(try w(home, "audit", "export", "--to", "2026-12-01Tgarbage").status != 0)
        #expect(try w(home, "person", "add", "A").status == 0)
        let first = try #require(AuditExporter.parseCSV(try w(home, "audit", "export").stdout).dropFirst().first)
        Thread.sleep(forTimeInterval: 0.01)
        #expect(try w(home, "person", "add", "B").status == 0)
        // --to the first event's own timestamp (exclusive): none; just after it: the first only.
        let at = first[1]
        let none = try w(home, "audit", "export", "--to", at)
        #expect(AuditExporter.parseCSV(none.stdout).count == 1, "--to \(at): \(none.stdout) \(none.stderr)")
        let after = AuditTime.utc(StrictDate.parse(at)!.addingTimeInterval(0.0015))  // the next millisecond
        let one = try w(home, "audit", "export", "--to", after)
        #expect(AuditExporter.parseCSV(one.stdout).count == 2, "--to \(after) (first at \(at)): \(one.stdout) \(one.stderr)")
        #expect(StrictDate.parse("2026-12-01T10:00:00+01:00") == StrictDate.parse("2026-12-01T09:00:00Z"))
        #expect(StrictDate.parse("2026-12-01") != nil && StrictDate.parse("2026-12-01T09:27") == nil)
    }

    /// D9: a matching.yaml that is not UTF-8 is an error, not the defaults.
    @Test func anUnreadableMatchingFileIsNotTheDefaults() throws {
        let home = CLI.Home()
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        try Data([0x76, 0x65, 0x72, 0x69, 0x66, 0x79, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: home.url.appendingPathComponent("matching.yaml"))
        let r = try w(home, "run", "--site", "/nonexistent/site.yaml", "--duration", "1")
        #expect(r.status == 2 && r.stderr.contains("matching.yaml") && r.stderr.contains("UTF-8"), "\(r.stderr)")
    }

    /// Decision: a threshold that would let most strangers match is refused.
    @Test func aThresholdThatAcceptsStrangersIsRefused() throws {
        let home = CLI.Home()
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        try "verify: 2.0\n".write(to: home.url.appendingPathComponent("matching.yaml"), atomically: true, encoding: .utf8)
        let r = try w(home, "run", "--site", "/nonexistent/site.yaml", "--duration", "1")
        #expect(r.status == 2 && r.stderr.contains("impostors' mean distance"), "\(r.stderr)")
    }

    /// D11-D13: FIFOs, devices and huge files are refused before they block or cost memory.
    @Test(.needsFixtures) func onlyBoundedRegularFilesAreRead() throws {
        let home = CLI.Home()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-inputs-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("a.jpg").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let zero = dir.appendingPathComponent("z.jpg").path
        #expect(symlink("/dev/zero", zero) == 0)
        let huge = dir.appendingPathComponent("huge.jpg").path
        #expect(FileManager.default.createFile(atPath: huge, contents: Data([0xFF, 0xD8, 0xFF])))
        #expect(truncate(huge, 1 << 30) == 0)  // sparse: costs no disk
        let detect = try w(home, "faces", "detect", fifo, zero)
        let said = detect.stdout + detect.stderr
        #expect(detect.status != 0 && said.contains("FIFO") && said.contains("character device"), "\(said)")
        #expect(try w(home, "identify", fifo).status != 0)
        #expect(try w(home, "person", "add", "P").status == 0)
        let enroll = try w(home, "enroll", "P", huge)
        #expect(enroll.status != 0 && (enroll.stdout + enroll.stderr).contains("limit"), "\(enroll.stdout)\(enroll.stderr)")
        for path in [fifo, zero, huge] {
            #expect(throws: BoundedFile.Failure.self) { try BoundedFile.read(path, limit: 1 << 20) }
        }
    }
}

@Suite("Hardening: the controller stays up", .serialized)
struct ControllerAvailabilityTests {
    /// A site with one badge-only door and no camera: starts without models' work.
    final class BadgeSite {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-avail-\(UUID())")
        let home = CLI.Home()
        init(siteExtra: String = "", lockout: String = "") throws {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("policy"), withIntermediateDirectories: true)
            try """
            site: {name: Avail, timezone: UTC}
            zones: [{id: office}]
            doors:
              - {id: server-room, into: office, factors: badge, fail_mode: secure, strike_time: 2s}
            """.write(to: dir.appendingPathComponent("policy/site.yaml"), atomically: true, encoding: .utf8)
            try """
            policy: policy
            pinmap: \(CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
            gpio: simulated
            doors:
              server-room: {\(lockout)}
            \(siteExtra)
            """.write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(at: dir) }
        var siteFile: String { dir.appendingPathComponent("site.yaml").path }
    }

    /// D1 and D16: clients that hang up without reading do not kill the controller, and a
    /// second `warden run` on the same home is refused while the first keeps its socket.
    @Test(.needsFixtures) func hangUpsAndASecondInstanceLeaveTheControllerRunning() throws {
        let site = try BadgeSite()
        let run = try RunningWarden(["run", "--site", site.siteFile], home: site.home)
        #expect(run.waitFor("doors up"))
        let sock = site.home.path + "/warden.sock"
        for _ in 0..<20 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in Array(sock.utf8).enumerated() { raw[i] = b } }
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            close(fd)
        }
        Thread.sleep(forTimeInterval: 1)
        #expect(run.process.isRunning, "the controller died (SIGPIPE)")
        let second = try CLI.run(["run", "--site", site.siteFile, "--duration", "5"], home: site.home)
        #expect(second.status == 2 && second.stderr.contains("another warden run"), "\(second.stderr)")
        #expect(try CLI.run(["status"], home: site.home).status == 0, "the first instance lost its socket")
        #expect(run.stop() == 0)
        var types: [String] = []
        try AuditStore(home: site.home.path).forEachRow { _, e in types.append(e.type) }
        #expect(types.last == "system.stop")
    }

    /// D13: a FIFO in a camera's image folder neither hangs start-up nor outlives
    /// --duration: the camera is faulted with the reason, and the doors run.
    @Test(.needsFixtures) func aFIFOInACameraFolderIsACameraFaultNotAHang() throws {
        let site = try BadgeSite(lockout: "camera: {images: cam, fps: 2}")
        let cam = site.dir.appendingPathComponent("cam")
        try FileManager.default.createDirectory(at: cam, withIntermediateDirectories: true)
        #expect(mkfifo(cam.appendingPathComponent("frame.jpg").path, 0o600) == 0)
        let r = try CLI.run(["run", "--site", site.siteFile, "--duration", "3"], home: site.home)
        #expect(r.status == 0 && r.stdout.contains("doors up"), "\(r.stdout)\(r.stderr)")
        var faults: [String] = []
        try AuditStore(home: site.home.path).forEachRow { _, e in if e.type == "system.camera_fault" { faults.append(e.detail?["reason"] ?? "") } }
        #expect(faults.contains { $0.contains("FIFO") }, "\(faults)")
    }

    /// D15: every number in the site file is checked, with its line and column.
    @Test func siteFileNumbersAndKeysAreChecked() throws {
        for (lockout, expected) in [("lockout: {duration: .inf}", "lockout.duration"), ("lockout: {attempts: 0}", "lockout.attempts"),
                                    ("face: {badge_window: .nan}", "face.badge_window"), ("face: {frames_required: -3}", "face.frames_required"),
                                    ("face: {whole_frame_every: 0}", "face.whole_frame_every"),
                                    ("lockout: {windw: 60}", "unknown key")] {
            let site = try BadgeSite(lockout: lockout)
            let r = try CLI.run(["run", "--site", site.siteFile, "--duration", "1"], home: site.home)
            #expect(r.status == 2 && r.stderr.contains(expected) && r.stderr.contains("site.yaml:5:"), "\(lockout): \(r.stderr)")
        }
    }

    /// The integrations' sections are checked like the rest: a webhook that would send
    /// events in clear off this host, or unsigned, or remote commands without TLS, broker
    /// authentication or listed doors, stop the start with the reason; no door is touched.
    @Test func integrationSettingsThatWouldLeakOrActAreRefused() throws {
        let short = FileManager.default.temporaryDirectory.appendingPathComponent("warden-secret-\(UUID())").path
        try "tooshort".write(toFile: short, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: short) }
        for (extra, expected) in [("webhooks: [{url: \"http://10.1.2.3/hook\", secret_file: \(short)}]", "over https://"),
                                  ("webhooks: [{url: \"https://hooks.example/x\", secret_file: \(short)}]", "at least 16 bytes"),
                                  ("webhooks: [{url: \"https://hooks.example/x\"}]", "secret_file"),
                                  ("mqtt: {host: 127.0.0.1, commands: {enabled: true, doors: [server-room]}}", "only over TLS"),
                                  ("mqtt: {host: 127.0.0.1, commands: {enabled: true, doors: [server-room]}}", "needs broker authentication"),
                                  ("mqtt: {host: 127.0.0.1, commands: {enabled: true}}", "needs mqtt.commands.doors"),
                                  ("mqtt: {host: 127.0.0.1, commands: {enabled: true, doors: [garage]}}", "'garage' is not a door of this site file"),
                                  ("mqtt: {host: 127.0.0.1, commands: {doors: [server-room]}}", "mqtt.commands.enabled is not true"),
                                  ("mqtt: {host: 127.0.0.1, protocol: \"4\"}", "mqtt.protocol must be 3.1.1 or 5"),
                                  ("mqtt: {host: 127.0.0.1, port: 70000}", "mqtt.port"),
                                  ("mqtt: {host: 127.0.0.1, tls: {ca_file: /nonexistent/ca.pem}}", "cannot read /nonexistent/ca.pem")] {
            let site = try BadgeSite(siteExtra: extra)
            let r = try CLI.run(["run", "--site", site.siteFile, "--duration", "1"], home: site.home)
            #expect(r.status == 2 && r.stderr.contains(expected) && r.stderr.contains("no door was touched"), "\(extra): \(r.stderr)")
        }
    }

    /// D14: a reload is loaded off the loop; the loop only takes a finished one.
    @Test func aReloadIsLoadedOffTheLoop() throws {
        let reload = BackgroundReload()
        let gate = DispatchSemaphore(value: 0)
        #expect(reload.start { gate.wait(); throw CLIError("loaded") })
        #expect(!reload.start { throw CLIError("second") }, "two reloads at once")
        #expect(reload.take() == nil, "the loop waited for the load")
        gate.signal()
        var outcome: Result<BoardRunner.Reloaded, Error>? = nil
        for _ in 0..<500 where outcome == nil { outcome = reload.take(); usleep(10_000) }
        guard case .failure(let e)? = outcome else { Issue.record("no outcome"); return }
        #expect("\(e)" == "loaded")
    }
}

