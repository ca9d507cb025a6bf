import Audit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Testing
import WardenCore

/// The faults the issue lists, each on real parts: PostgreSQL restarted under load, a full
/// disk at the server (PostgreSQL's) and on a board (its audit log), a board process killed
/// mid-upload, and a random sequence of all of them. After each, the central log of every
/// controller is exactly its own log: every row, once, in order, and its chain verifies.
@Suite(.serialized) struct FleetFaultTests {
    static func door(_ type: String, _ i: Int) -> AuditEvent { AuditEvent(kind: .door, type: type, door: "lobby", detail: ["i": String(i)]) }

    @Test func uploadsGoOnAcrossAPostgreSQLCrashUnderLoad() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let boards = [try await h.joinedController("east"), try await h.joinedController("west")]
        let running = boards.map { b in Task { await b.agent.run() } }
        // Rows keep coming while PostgreSQL crashes (immediate stop: no shutdown checkpoint)
        // and comes back.
        let writers = boards.map { b in
            Task.detached {
                for i in 0..<400 {
                    _ = try? b.audit.append([Self.door("door.opened", i)])
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
        }
        try await Task.sleep(for: .milliseconds(400))
        try h.postgres.stop(immediate: true)
        try await Task.sleep(for: .seconds(1))
        try h.postgres.start()
        for w in writers { await w.value }
        for r in running { r.cancel(); await r.value }
        for b in boards { try await b.drain() }
        for (b, name) in zip(boards, ["east", "west"]) {
            let logs = try await h.logs(of: b.audit, as: name)
            #expect(logs.central == logs.local, "\(name): \(logs.central.count) stored of \(logs.local.count)")
            #expect(logs.problems == [])
            #expect(logs.local.count >= 400)
        }
        await h.destroy()
    }

    /// PostgreSQL's disk fills (its event table on a small tmpfs): uploads are refused,
    /// rows stay on the board; once space is freed everything is stored once.
    @Test(.enabled(if: getuid() == 0, "mounts a tmpfs: needs root"))
    func aFullDiskAtTheServerLosesNothing() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("north")
        let space = h.postgres.directory + "/small"
        try FileManager.default.createDirectory(atPath: space, withIntermediateDirectories: true)
        #expect(try Spawn.run(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", space]).status == 0)
        defer { _ = try? Spawn.run(["/usr/bin/umount", "-l", space]) }
        if let owner = h.postgres.owner { _ = try Spawn.run(["/bin/chown", owner, space]) }
        try h.postgres.sql("CREATE TABLESPACE small LOCATION '\(space)'")
        try h.postgres.sql("ALTER TABLE event SET TABLESPACE small")
        // Fill what is left of it.
        _ = try Spawn.run(["/bin/dd", "if=/dev/zero", "of=\(space)/filler", "bs=64k"])
        for i in 0..<3000 { if i % 100 == 0 { try board.audit.append((i..<(i + 100)).map { Self.door("door.opened", $0) }) } }
        var refusals = 0
        for _ in 0..<3 {
            do { _ = try await board.agent.uploadOnce() } catch { refusals += 1; #expect("\(error)".contains("space") || "\(error)".contains("500"), "\(error)") }
        }
        #expect(refusals > 0, "the upload should have been refused on a full disk")
        #expect(try board.audit.count() >= 3000)
        unlink(space + "/filler")
        try await board.drain()
        let logs = try await h.logs(of: board.audit, as: "north")
        #expect(logs.central == logs.local && logs.problems == [])
        // Out of the tmpfs before it is unmounted.
        try h.postgres.sql("ALTER TABLE event SET TABLESPACE pg_default")
        await h.destroy()
    }

    /// The board's own disk fills: the audit writer holds events in memory, the upload goes
    /// on with what is on disk, and once space is back everything reaches the server once.
    @Test func aFullDiskOnTheBoardLosesNothing() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("south")
        let log = AuditLog(store: board.audit, retryInterval: 0.05)
        for i in 0..<50 { log.record(Self.door("door.opened", i)) }
        #expect(log.flush())
        try board.audit.setMaxPageCount(1)  // no page more than it has
        for i in 50..<2050 { log.record(Self.door("door.closed", i)) }
        _ = try await board.agent.uploadOnce()
        for _ in 0..<100 where log.state == .ok { try await Task.sleep(for: .milliseconds(20)) }
        guard case .degraded = log.state else { Issue.record("the log should be degraded on a full disk"); return }
        try board.audit.setMaxPageCount(1 << 30)
        #expect(log.flush(timeout: 30))
        log.close()
        try await board.drain()
        let logs = try await h.logs(of: board.audit, as: "south")
        #expect(logs.central == logs.local && logs.problems == [])
        var doors = 0
        try board.audit.forEachRow { _, e in if e.type.hasPrefix("door.") { doors += 1 } }
        #expect(doors == 2050, "every door event kept: the ring held them all")
        await h.destroy()
    }
}

/// A random sequence of the faults, reproducible from its seed (printed; set
/// `WARDEN_PROPERTY_SEED` to replay one): boards logging and uploading while the server
/// stops and starts, PostgreSQL crashes, boards restart (their agents forget everything not
/// on disk), uploads are abandoned half way, and a board's disk fills and frees. Whatever
/// the order, the central log is the union of the boards' logs: each one's rows, in order,
/// with no gap and no duplicate, and every chain verifies.
@Suite(.serialized) struct FleetFaultPropertyTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func aRandomSequenceOfFaultsLosesNothingAndDuplicatesNothing() async throws {
        let seed = ProcessInfo.processInfo.environment["WARDEN_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        print("fleet fault sequence: WARDEN_PROPERTY_SEED=\(seed)")
        var rng = SplitMix(state: seed)
        let h = try FleetHarness()
        try await h.startServer()
        let names = ["a", "b", "c"]
        var boards: [Board] = []
        for n in names { boards.append(try await h.joinedController(n)) }
        var serverUp = true
        var fullDisk = Set<Int>()
        var trail: [String] = []
        var written = 0
        for _ in 0..<60 {
            let i = Int.random(in: 0..<boards.count, using: &rng)
            let b = boards[i]
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                let k = Int.random(in: 1...300, using: &rng)
                let ok = (try? b.audit.append((0..<k).map { FleetFaultTests.door("door.opened", written + $0) })) != nil
                if ok { written += k }
                trail.append("append \(k) to \(names[i])\(ok ? "" : " (refused: disk full)")")
            case 30..<55:
                let limit = Int.random(in: 1...600, using: &rng)
                let r = try? await b.agent.uploadOnce(limit: limit)
                trail.append("upload \(names[i]) limit \(limit): \(r.map { "through \($0.highWater)" } ?? "failed")")
            case 55..<65:
                // An upload abandoned part way: it may or may not have been stored.
                let agent = b.agent
                let t = Task { try await agent.uploadOnce(limit: 500) }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...30, using: &rng)))
                t.cancel()
                _ = await t.result
                try await b.restartAgent()
                trail.append("upload abandoned, \(names[i]) restarted")
            case 65..<75:
                try await b.restartAgent()
                trail.append("restart \(names[i])")
            case 75..<85:
                if serverUp { await h.stopServer() } else { try await h.startServer() }
                serverUp.toggle()
                trail.append(serverUp ? "server started" : "server stopped")
            case 85..<92:
                try h.postgres.stop(immediate: true)
                try h.postgres.start()
                trail.append("PostgreSQL crashed and restarted")
            default:
                if fullDisk.contains(i) { try b.audit.setMaxPageCount(1 << 30); fullDisk.remove(i) } else { try b.audit.setMaxPageCount(1); fullDisk.insert(i) }
                trail.append("\(names[i])'s disk \(fullDisk.contains(i) ? "full" : "freed")")
            }
        }
        // Everything back; every board uploads what it holds.
        if !serverUp { try await h.startServer() }
        for i in fullDisk { try boards[i].audit.setMaxPageCount(1 << 30) }
        for b in boards { try await b.drain() }
        for (b, n) in zip(boards, names) {
            let logs = try await h.logs(of: b.audit, as: n)
            #expect(logs.central == logs.local, "seed \(seed), \(n): \(logs.central.count) stored of \(logs.local.count); steps: \(trail.joined(separator: "; "))")
            #expect(logs.problems == [], "seed \(seed): \(trail.joined(separator: "; "))")
        }
        await h.destroy()
    }
}
