import Audit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import WardenTestSupport
import Storage
import Testing
import WardenCore

/// A board as it runs: the `warden` binary joins, syncs, refuses local admin changes, and
/// `warden run` keeps deciding from its replica with the server gone, logging the loss;
/// once the server is back, what it decided offline reaches the central log.
@Suite(.serialized) struct FleetBoardProcessTests {
    static let root = TestCheckout.root
    static let warden: String? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let p = dir.appendingPathComponent("warden").path
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }()

    /// The fleet's policy in these tests: one badge-only door into one zone.
    static let badgeDoorPolicy = """
        site: {name: Gate, timezone: UTC}
        zones: [{id: yard}]
        doors:
          - {id: lobby, into: yard, factors: badge, fail_mode: safe, strike_time: 2s}
        """

    /// A board's site file for `warden run`: the fleet's policy, simulated GPIO, and any
    /// simulated steps.
    static func boardSite(home: String, simulate: String = "") -> String {
        """
        policy: \(home)/fleet/policy
        pinmap: \(root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        gpio: simulated
        doors:
          lobby: {}
        """ + (simulate.isEmpty ? "" : "\nsimulate:\n" + simulate) + "\n"
    }

    func w(_ args: [String], home: String) throws -> Spawn.Result {
        let bin = try #require(Self.warden, "the warden executable was not built beside the tests")
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        env.removeValue(forKey: "WARDEN_SERVER")
        return try Spawn.run([bin] + args, environment: env)
    }

    @Test func aBoardDecidesFromItsReplicaWhileTheServerIsDown() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let home = h.root + "/board"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let token = try await h.token(for: "gate")
        let join = try w(["fleet", "join", h.url, "--token", token.description], home: home)
        #expect(join.status == 0, "\(join.stderr)")
        // At the server: a badge-only door, a person with a badge and a grant.
        let admin = Operator("test-admin")
        try await h.central { store in
            _ = try await store.putConfiguration(.policy, files: ["site.yaml": Self.badgeDoorPolicy], by: admin)
            let p = try await store.addPerson(name: "Grace Hopper", externalID: "G1", validFrom: nil, validUntil: nil, by: admin)
            _ = try await store.issueBadge(try BadgeCredential(parsing: "12:1001"), to: p.id, by: admin)
            _ = try await store.addGrant(personID: p.id, group: nil, zone: "yard", schedule: nil, until: nil, by: admin)
        }
        let sync = try w(["fleet", "sync", "--json"], home: home)
        #expect(sync.status == 0, "\(sync.stderr)")
        // The replica is the server's: a local change is refused, with where to make it.
        let local = try w(["person", "add", "Someone"], home: home)
        #expect(local.status != 0 && local.stderr.contains("Make the change at the server"), "\(local.stderr)")

        // The server goes away; the board starts anyway and admits the badge from its replica.
        await h.stopServer()
        try Self.boardSite(home: home, simulate: "  - {at: 1.0, door: lobby, badge: \"12:1001\"}").write(toFile: home + "/site.yaml", atomically: true, encoding: .utf8)
        let run = try w(["run", "--site", home + "/site.yaml", "--stop-after-decisions", "1", "--duration", "120"], home: home)
        #expect(run.status == 0, "\(run.stderr)")
        var types: [String] = []
        try AuditStore(home: home, readOnly: true).forEachRow { _, e in types.append(e.type) }
        #expect(types.contains("access.granted"), "\(types)")
        #expect(types.contains("fleet.link_lost"), "\(types)")
        #expect(!types.contains("fleet.link_restored"))

        // Back: everything the board logged offline is stored centrally, once, and verifies.
        try await h.startServer()
        let back = try w(["fleet", "sync"], home: home)
        #expect(back.status == 0, "\(back.stderr)")
        let last = try AuditStore(home: home, readOnly: true).lastSeq()
        let (report, central) = try await h.central { store in
            var t: [String] = []
            try await store.forEachEvent(controller: "gate") { _, row in t.append(try AuditChain.event(of: row).type) }
            return (try await store.verifyChains().first { $0.controller == "gate" }, t)
        }
        #expect(report?.problems == [] && report?.rows == last)
        #expect(central.contains("access.granted") && central.contains("fleet.link_lost"))
        await h.destroy()
    }

    /// `audit prune` on a board keeps every row the server has not acknowledged, whatever
    /// its date; what it did keep back is said and recorded.
    @Test func pruneKeepsWhatTheServerHasNotAcknowledged() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let home = h.root + "/pruned"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let join = try w(["fleet", "join", h.url, "--token", try await h.token(for: "pruned").description], home: home)
        #expect(join.status == 0, "\(join.stderr)")
        #expect(try w(["fleet", "sync"], home: home).status == 0)
        let old = Date().addingTimeInterval(-10 * 86400)
        let store = try AuditStore(home: home)
        for i in 0..<30 { _ = try store.append([AuditEvent(at: old, kind: .door, type: "door.opened", door: "lobby", detail: ["i": String(i)])]) }
        let sync = try w(["fleet", "sync"], home: home)
        #expect(sync.status == 0, "\(sync.stderr)")
        let mark = try #require(try FleetMembership.load(home: home)).acknowledgedSeq()
        #expect(mark >= 30)
        // Offline now: more old-dated rows that the server never sees.
        await h.stopServer()
        for i in 0..<10 { _ = try store.append([AuditEvent(at: old, kind: .door, type: "door.closed", door: "lobby", detail: ["i": String(i)])]) }
        let prune = try w(["audit", "prune", "--before", String(AuditTime.utc(Date().addingTimeInterval(86400)).prefix(10)), "--archive", home + "/archive.jsonl", "--json"], home: home)
        #expect(prune.status == 0, "\(prune.stderr)")
        struct Result: Decodable { let pruned: Int; let anchorSeq: Int64; let keptAfterServerMark: Int64? }
        let r = try JSONDecoder().decode(Result.self, from: Data(prune.stdout.utf8))
        #expect(r.anchorSeq == mark && r.keptAfterServerMark == mark)
        var left: [String] = []
        try AuditStore(home: home, readOnly: true).forEachRow { _, e in left.append(e.type) }
        #expect(left.filter { $0 == "door.closed" }.count == 10)
        #expect(left.last == "admin.audit_prune")
        await h.destroy()
    }

    /// Two `warden run` boards on simulated GPIO upload long logs; one is SIGKILLed while
    /// its upload is half done. Started again, it resumes from the server's mark: both
    /// central logs are exactly the boards' own, with nothing lost or stored twice.
    @Test func aBoardKilledMidUploadResumesWithoutLossOrDuplicate() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.central { store in
            _ = try await store.putConfiguration(.policy, files: ["site.yaml": Self.badgeDoorPolicy], by: Operator("test-admin"))
        }
        var homes: [String] = []
        for name in ["killed", "steady"] {
            let home = h.root + "/" + name
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            #expect(try w(["fleet", "join", h.url, "--token", try await h.token(for: name).description], home: home).status == 0)
            #expect(try w(["fleet", "sync"], home: home).status == 0)
            // A long backlog: what a board holds after a day offline.
            let store = try AuditStore(home: home)
            for b in 0..<12 { _ = try store.append((0..<1000).map { FleetFaultTests.door("door.opened", b * 1000 + $0) }) }
            try Self.boardSite(home: home).write(toFile: home + "/site.yaml", atomically: true, encoding: .utf8)
            homes.append(home)
        }
        let bin = try #require(Self.warden)
        func start(_ home: String) throws -> Spawn.Running {
            var env = ProcessInfo.processInfo.environment
            env["WARDEN_HOME"] = home
            env.removeValue(forKey: "WARDEN_SERVER")
            return try Spawn.start([bin, "run", "--site", home + "/site.yaml", "--duration", "300"], environment: env)
        }
        let killed = try start(homes[0]), steady = try start(homes[1])
        let backlog = try AuditStore(home: homes[0], readOnly: true).lastSeq()
        // Half way: some batches stored, not all.
        var mark: Int64 = 0
        for _ in 0..<6000 {
            mark = try await h.store?.controllers().first { $0.name == "killed" }?.highWater ?? 0
            if mark > 0 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        killed.kill(SIGKILL)
        #expect(killed.wait().status == 128 + SIGKILL)
        #expect(mark > 0 && mark < backlog, "the kill should land mid-upload (stored through \(mark) of \(backlog))")
        // Started again, and left to finish; then both stop as an operator would stop them.
        let again = try start(homes[0])
        for (name, home) in zip(["killed", "steady"], homes) {
            for _ in 0..<12000 {
                let last = try AuditStore(home: home, readOnly: true).lastSeq()
                if try await h.store?.controllers().first(where: { $0.name == name })?.highWater ?? 0 >= last { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        for p in [again, steady] { p.kill(SIGTERM); _ = p.wait() }
        for (name, home) in zip(["killed", "steady"], homes) {
            // What they logged while stopping goes up with one more sync.
            #expect(try w(["fleet", "sync"], home: home).status == 0)
            let logs = try await h.logs(of: try AuditStore(home: home, readOnly: true), as: name)
            #expect(logs.central == logs.local, "\(name): \(logs.central.count) stored of \(logs.local.count)")
            #expect(logs.problems == [])
            #expect(logs.local.count > 12_000)
        }
        await h.destroy()
    }

    /// An admin command with no server form yet, run with WARDEN_SERVER set, is refused:
    /// it neither answers from nor changes this host's own home as if it were the fleet's.
    @Test func aCommandWithoutAServerFormIsRefusedWhenAServerIsNamed() throws {
        let bin = try #require(Self.warden, "the warden executable was not built beside the tests")
        let home = NSTemporaryDirectory() + "warden-noserverform-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        env["WARDEN_SERVER"] = "https://127.0.0.1:9"
        env["WARDEN_OPERATOR_TOKEN"] = "wop1.nobody.x"
        for args in [["keys", "rotate"]] {
            let r = try Spawn.run([bin] + args, environment: env)
            #expect(r.status != 0 && r.stderr.contains("does not work against the fleet server yet"), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: home + "/identity.sqlite"))
        // Those with a server form go to the server (here without its CA, so they stop
        // there), never to this home.
        for args in [["group", "list"], ["person", "show", "1"], ["zone", "list"], ["policy", "explain", "--person", "1", "--door", "lobby"], ["thresholds", "show"]] {
            let r = try Spawn.run([bin] + args, environment: env)
            #expect(r.status != 0 && r.stderr.contains("site CA") && !r.stderr.contains("does not work against"), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: home + "/identity.sqlite"))
    }

    /// `warden badge list`, `warden group add/remove` and `warden revoke` against the server (the admin's
    /// CLI with WARDEN_SERVER), each reaching a board's replica; an enroller may not.
    @Test func groupMembershipAndGrantRevocationAtTheServerReachTheBoard() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("hall")
        let (admin, enroller) = try await h.central { store in
            (try await store.addOperator("ana", role: .admin, by: Operator("test-admin")), try await store.addOperator("eve", role: .enroller, by: Operator("test-admin")))
        }
        func remote(_ args: [String], token: String) async throws -> Spawn.Result { try await h.adminCLI(args, token: token) }
        #expect(try await remote(["person", "add", "Grace Hopper", "--external-id", "G1"], token: admin).status == 0)
        #expect(try await remote(["badge", "issue", "G1", "12:4242"], token: admin).status == 0)
        let badges = try await remote(["badge", "list", "--person", "G1", "--json"], token: enroller)
        #expect(badges.status == 0 && badges.stdout.contains("12:4242") && badges.stdout.contains("active"), "\(badges.stderr)")
        let add = try await remote(["group", "add", "G1", "night-shift"], token: admin)
        #expect(add.status == 0 && add.stdout.contains("is now in night-shift"), "\(add.stderr)")
        let grant = try await remote(["grant", "add", "G1", "yard", "--json"], token: admin)
        #expect(grant.status == 0, "\(grant.stderr)")
        let denied = try await remote(["group", "remove", "G1", "night-shift"], token: enroller)
        #expect(denied.status != 0 && denied.stderr.contains("enroller"), "\(denied.stderr)")
        while try await board.agent.syncOnce() > 0 {}
        #expect(try board.db.access.members(of: "night-shift").count == 1)
        #expect(try board.db.access.grants().count == 1)
        let grantID = try #require(try board.db.access.grants().first?.id)
        #expect(try await remote(["group", "remove", "G1", "night-shift"], token: admin).status == 0)
        let revoke = try await remote(["revoke", String(grantID)], token: admin)
        #expect(revoke.status == 0, "\(revoke.stderr)")
        while try await board.agent.syncOnce() > 0 {}
        #expect(try board.db.access.members(of: "night-shift").isEmpty)
        #expect(try board.db.access.grants().isEmpty)
        await h.destroy()
    }
}
