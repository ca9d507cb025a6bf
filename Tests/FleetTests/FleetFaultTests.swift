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
