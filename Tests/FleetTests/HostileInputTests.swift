import Audit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import PostgresNIO
import Testing
import WardenCore
import WebConsole

/// Hostile and out-of-range input at the fleet server's surfaces, from a controller's
/// certificate and from every operator role: each is refused with a 400 that names the
/// field, and the server is still there to answer the next request. A real server on a
/// private PostgreSQL, raw requests over mutual TLS, as a probe would send them.
@Suite(.serialized) struct HostileInputTests {
    /// What the server answered: its status and error text, or 200 and the body.
    static func answer(_ send: () async throws -> Data) async -> (status: Int, text: String) {
        do { return (200, String(decoding: try await send(), as: UTF8.self)) } catch {
            switch error as? FleetLinkError {
            case .refused(let status, let reply): return (status, reply.error)
            case .unreachable(let why): return (503, why)
            case .invalid(let why): return (0, why)
            case nil: return (0, "\(error)")
            }
        }
    }

    static func operators(_ h: FleetHarness) async throws -> (admin: HTTPSFleetTransport, enroller: HTTPSFleetTransport, auditor: HTTPSFleetTransport) {
        let (a, e, u) = try await h.central { store in
            (try await store.addOperator("ana", role: .admin, by: Operator("test-admin")),
             try await store.addOperator("eve", role: .enroller, by: Operator("test-admin")),
             try await store.addOperator("aud", role: .auditor, by: Operator("test-admin")))
        }
        return (try h.api(token: a), try h.api(token: e), try h.api(token: u))
    }

    /// The server still answers: a controller's heartbeat and an operator's read.
    static func expectAlive(_ h: FleetHarness, _ board: Board, _ reader: HTTPSFleetTransport, _ after: String) async throws {
        try await board.agent.heartbeatOnce()
        let people = await answer { try await reader.get(AdminPath.people, query: [:], timeout: .seconds(10)) }
        #expect(people.status == 200, "after \(after) the server no longer answers: \(people)")
    }

    @Test func numbersOutOfRangeFromAControllerAreRefusedByName() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let ops = try await Self.operators(h)
            let board = try await h.joinedController("b1")
            let link = try board.agent.membership.transport()
            for (path, query, field) in [(FleetPath.changes, ["since": "0", "wait": "-inf"], "wait"), (FleetPath.changes, ["since": "0", "wait": "-1e30"], "wait"),
                                         (FleetPath.changes, ["since": "0", "wait": "nan"], "wait"), (FleetPath.changes, ["since": "0", "wait": "1e300"], "wait"),
                                         (FleetPath.changes, ["since": "-5"], "since"), (FleetPath.changes, ["since": "99999999999999999999"], "since"),
                                         (FleetPath.captures, ["wait": "-inf"], "wait"), (FleetPath.captures, ["wait": "inf"], "wait")] {
                let a = await Self.answer { try await link.get(path, query: query, timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains(field), "\(path) \(query): \(a)")
            }
            try await Self.expectAlive(h, board, ops.auditor, "the long-poll probes")

            // A heartbeat whose numbers would trap `server status`, and its variants.
            for (json, field) in [(#"{"wardenVersion":"x","appliedRevision":-9223372036854775808,"bufferedEvents":0,"sentAt":1,"doors":[]}"#, "appliedRevision"),
                                  (#"{"wardenVersion":"x","appliedRevision":1,"bufferedEvents":-1,"sentAt":1,"doors":[]}"#, "bufferedEvents"),
                                  (#"{"wardenVersion":"x","appliedRevision":1,"bufferedEvents":0,"sentAt":1e300,"doors":[]}"#, "sentAt"),
                                  (#"{"wardenVersion":"x","appliedRevision":1,"bufferedEvents":0,"sentAt":1,"clockSkewSeconds":1e300,"doors":[]}"#, "clockSkewSeconds")] {
                let a = await Self.answer { try await link.post(FleetPath.heartbeat, body: Data(json.utf8), timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains(field), "\(json): \(a)")
            }
            let applied = await Self.answer { try await link.post(FleetPath.applied, body: Data(#"{"revision":-1}"#.utf8), timeout: .seconds(10)) }
            #expect(applied.status == 400 && applied.text.contains("revision"), "\(applied)")

            // Rows numbered where no chain starts, or too many at once.
            let start = AuditEvent(kind: .system, type: "system.start")
            for (seq, count, field) in [(Int64(0), 1, "rows[0].seq"), (Int64.min, 1, "rows[0].seq"), (Int64(1), 10_001, "rows")] {
                let row = try AuditChain.row(for: start, seq: seq, prevHash: AuditChain.genesisHash)
                let batch = EventBatch(rows: Array(repeating: UploadedRow(seq: row.seq, payload: row.payload, prevHash: row.prevHash, hash: row.hash), count: count))
                let upload = await Self.answer { try await link.post(FleetPath.events, body: try! FleetJSON.encoder().encode(batch), timeout: .seconds(30)) }
                #expect(upload.status == 400 && upload.text.contains(field), "\(seq) x\(count): \(upload)")
            }
            try await Self.expectAlive(h, board, ops.auditor, "the heartbeat and upload probes")
        }
    }

    @Test func datesAndNumbersOutOfRangeFromOperatorsAreRefusedByName() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let ops = try await Self.operators(h)
            let board = try await h.joinedController("b1")
            _ = await Self.answer { try await ops.enroller.post(AdminPath.people, body: Data(#"{"name":"Ada","externalID":"E1"}"#.utf8), timeout: .seconds(10)) }
            for (op, path, json, field) in [(ops.enroller, AdminPath.people, #"{"name":"x","validUntil":1e13}"#, "validUntil"),
                                            (ops.enroller, AdminPath.people, #"{"name":"x","validFrom":-1e13}"#, "validFrom"),
                                            (ops.enroller, AdminPath.people, #"{"name":"x","validFrom":-1}"#, "validFrom"),
                                            (ops.admin, AdminPath.grants, #"{"person":"E1","zone":"office","until":1e13}"#, "until"),
                                            (ops.admin, AdminPath.grantRevoke, #"{"id":-9223372036854775808}"#, "id"),
                                            (ops.enroller, AdminPath.enrollCamera, #"{"person":"E1","door":"lobby","seconds":-1e308,"templates":5,"force":false}"#, "seconds")] {
                let a = await Self.answer { try await op.post(path, body: Data(json.utf8), timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains(field), "\(path) \(json): \(a)")
            }
            for (query, field) in [(["from": "1e300"], "from"), (["from": "nan"], "from"), (["to": "-inf"], "to"), (["person": "x"], "person"), (["format": "xml"], "format")] {
                let a = await Self.answer { try await ops.auditor.get(AdminPath.auditExport, query: query, timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains(field), "export \(query): \(a)")
            }
            let verify = await Self.answer { try await ops.auditor.get(AdminPath.auditVerify, query: ["silent_seconds": "-inf"], timeout: .seconds(10)) }
            #expect(verify.status == 400 && verify.text.contains("silent_seconds"), "\(verify)")
            let status = await Self.answer { try await ops.enroller.get(AdminPath.enrollCameraStatus, query: ["job": "x", "wait": "nan"], timeout: .seconds(10)) }
            #expect(status.status == 400 && status.text.contains("wait"), "\(status)")
            try await Self.expectAlive(h, board, ops.auditor, "the operators' probes")
        }
    }

    @Test func textPostgreSQLCannotStoreIsA400ThatNamesTheField() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let ops = try await Self.operators(h)
            let board = try await h.joinedController("b1")
            let nul = "\u{0}"
            let people = await Self.answer { try await ops.auditor.get(AdminPath.personDetail, query: ["person": nul], timeout: .seconds(10)) }
            #expect(people.status == 400 && people.text.contains("person") && !people.text.contains("PSQLError"), "\(people)")
            for (op, path, body, field) in [(ops.admin, AdminPath.groups, AdminGroupName(name: "a\(nul)b") as any Encodable & Sendable, "name"),
                                            (ops.enroller, AdminPath.people, AdminPersonAdd(name: "Ada", externalID: "E\(nul)", validFrom: nil, validUntil: nil), "externalID"),
                                            (ops.admin, AdminPath.grants, AdminGrant(person: nil, group: "staff", zone: "z\(nul)", schedule: nil, until: nil), "zone"),
                                            (ops.enroller, AdminPath.badgeIssue, AdminBadge(person: "x", credential: "1\(nul)", format: "h10301"), "credential")] {
                let data = try FleetJSON.encoder().encode(body)
                let a = await Self.answer { try await op.post(path, body: data, timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains(field), "\(path): \(a)")
            }
            // From a controller: a door id with U+0000 and one with a terminal escape.
            let link = try board.agent.membership.transport()
            for door in ["lob\(nul)by", "\u{1B}]0;owned\u{7}\u{1B}[2J"] {
                let report = ControllerReport(wardenVersion: "t", appliedRevision: 0, bufferedEvents: 0, sentAt: Date(), clockSkewSeconds: nil,
                                              doors: [FleetDoorReport(id: door, state: "closed")])
                let a = await Self.answer { try await link.post(FleetPath.heartbeat, body: try! FleetJSON.encoder().encode(report), timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains("doors[0].id"), "\(a)")
            }
            try await Self.expectAlive(h, board, ops.auditor, "the text probes")
        }
    }

    @Test func serverStatusPrintsWhatABoardStoredWithoutTrappingOrEscapes() async throws {
        let bin = try #require(Self.wardenServer, "the warden-server executable was not built beside the tests")
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let board = try await h.joinedController("b1")
            try await board.agent.heartbeatOnce()
            // As a row stored before the server checked heartbeats would hold it.
            let doors = #"[{"id":"\u001b]0;owned\u0007\u001b[2Jlobby","state":"closed"}]"#
            try await h.central { store in
                try await store.client.query("UPDATE controller SET applied_revision = \(Int64.min), warden_version = \("1\u{1B}[31m"), doors = \(doors) WHERE name = 'b1'", logger: store.logger)
            }
            var env = ProcessInfo.processInfo.environment
            env["WARDEN_HOME"] = h.root
            let r = try await Spawn.output([bin, "status"], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stdout.contains("\u{1B}") && r.stdout.contains("lobby") && r.stdout.contains("not a revision of this server"), "\(r.stdout)")
        }
    }

    static func report(_ doors: [String]) -> ControllerReport {
        ControllerReport(wardenVersion: "t", appliedRevision: 0, bufferedEvents: 0, sentAt: Date(), clockSkewSeconds: nil,
                         doors: doors.map { FleetDoorReport(id: $0, state: "closed") })
    }

    @Test func aControllerSpeaksOnlyForItsOwnDoorsAndAlarms() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let ops = try await Self.operators(h)
            let b1 = try await h.joinedController("b1"), b2 = try await h.joinedController("b2"), b3 = try await h.joinedController("b3")
            let (l1, l2) = (try b1.agent.membership.transport(), try b2.agent.membership.transport())
            _ = try await l1.postJSON(HeartbeatReply.self, FleetPath.heartbeat, Self.report(["lobby"]))
            _ = try await l2.postJSON(HeartbeatReply.self, FleetPath.heartbeat, Self.report(["lobby", "dock"]))
            #expect(try await h.central { try await $0.doorOwner("lobby") } == "b1")
            let recorded = try await h.central { try await $0.controllers() }
            #expect(recorded.first { $0.name == "b2" }?.doors.map(\.id) == ["dock"], "b2's claim on lobby is not recorded")
            // An enrollment at lobby's camera goes to the board that runs lobby. The server
            // sends captures only to a board heard from in the last 15 s: b1 says it is
            // alive again, as its heartbeat would (on a loaded machine the steps above can
            // take longer than that).
            let p = try await ops.enroller.postJSON(PersonRecordWire.self, AdminPath.people, AdminPersonAdd(name: "Ada", externalID: "E1", validFrom: nil, validUntil: nil))
            _ = try await l1.postJSON(HeartbeatReply.self, FleetPath.heartbeat, Self.report(["lobby"]))
            let job = try await ops.enroller.postJSON(CaptureJobStatus.self, AdminPath.enrollCamera, AdminCameraEnroll(person: "#\(p.id)", door: "lobby", seconds: 5, templates: 3, force: false))
            #expect(job.controller == "b1")
            let stolen = try await l2.getJSON([CaptureJob].self, FleetPath.captures, query: ["wait": "0"])
            #expect(stolen.isEmpty)
            // An admin moves the door; the move is audited.
            try await h.central { try await $0.moveDoor("lobby", to: "b2", by: Operator("test-admin")) }
            #expect(try await h.central { try await $0.doorOwner("lobby") } == "b2")

            // b2 uploads an acknowledgement naming b3's alarm: the board shows it as b2's own
            // event, acknowledging nothing.
            _ = try b3.audit.append([AuditEvent(kind: .door, type: "door.forced_open", door: "gate")])
            try await b3.drain()
            _ = try b2.audit.append([AuditEvent.admin("admin.alarm_acknowledged", operator: "mallory", subject: "event:b3#1",
                                                      detail: ["controller": "b3", "seq": "1", "door": "gate", "comment": "x"])])
            try await b2.drain()
            let page = try await h.central { try await $0.boardPage(after: 0) }
            let forged = try #require(page.events.first { $0.controller == "b2" && $0.type == "admin.alarm_acknowledged" })
            #expect(forged.acknowledges == nil)
            #expect(try await h.central { try await $0.openAlarms() }.contains { $0.controller == "b3" })
        }
    }

    @Test func revocationEndsAnOpenLongPoll() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let board = try await h.joinedController("b1")
            let link = try board.agent.membership.transport()
            let since = try await h.central { try await $0.currentRevision() }
            let poll = Task { await Self.answer { try await link.get(FleetPath.changes, query: ["since": String(since), "wait": "25"], timeout: .seconds(40)) } }
            try await Task.sleep(for: .milliseconds(800))
            try await h.central { store in
                try await store.revokeController("b1", by: Operator("test-admin"))
                _ = try await store.addPerson(name: "After Revocation", externalID: nil, validFrom: nil, validUntil: nil, by: Operator("test-admin"))
            }
            let answer = await poll.value
            #expect(answer.status == 403 && !answer.text.contains("After Revocation"), "\(answer)")
        }
    }

    @Test func theServerRefusesWhatItsBoardsCouldNotApply() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let ops = try await Self.operators(h)
            let example = try ExamplePolicy.files()
            let published = try FleetJSON.encoder().encode(AdminConfiguration(files: example))
            let first = await Self.answer { try await ops.admin.post(AdminPath.policy, body: published, timeout: .seconds(20)) }
            #expect(first.status == 200, "\(first)")
            // A file name no board's file system takes.
            let longName = try FleetJSON.encoder().encode(AdminConfiguration(files: example.merging([String(repeating: "p", count: 296) + ".yaml": "zones: []\n"]) { $1 }))
            let long = await Self.answer { try await ops.admin.post(AdminPath.policy, body: longName, timeout: .seconds(20)) }
            #expect(long.status == 400 && long.text.contains("255"), "\(long)")
            // Thresholds larger than a board reads, and larger than the route takes at all.
            for (size, status) in [(1_500_000, 400), (10_000_000, 413)] {
                let body = try FleetJSON.encoder().encode(AdminConfiguration(files: ["matching.yaml": "# calibrated\n" + String(repeating: "#", count: size) + "\n"]))
                let a = await Self.answer { try await ops.admin.post(AdminPath.thresholds, body: body, timeout: .seconds(30)) }
                #expect(a.status == status, "\(size) bytes: \(a.status) \(a.text.prefix(200))")
            }
            // A grant to a zone or schedule the published policy lacks, as a board's CLI refuses it.
            _ = try await ops.enroller.postJSON(PersonRecordWire.self, AdminPath.people, AdminPersonAdd(name: "Ada", externalID: "E1", validFrom: nil, validUntil: nil))
            for (zone, schedule, word) in [("atlantis", nil, "no zone 'atlantis'"), ("office-floor", "never-o-clock", "no schedule 'never-o-clock'")] as [(String, String?, String)] {
                let body = try FleetJSON.encoder().encode(AdminGrant(person: "E1", group: nil, zone: zone, schedule: schedule, until: nil))
                let a = await Self.answer { try await ops.admin.post(AdminPath.grants, body: body, timeout: .seconds(10)) }
                #expect(a.status == 400 && a.text.contains(word), "\(a)")
            }
        }
    }

    static let wardenServer: String? = {
        let p = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("warden-server").path
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }()

    @Test func everyConsoleResponseCarriesTheSecurityHeaders() async throws {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole()])
        try await h.whileRunning {
            let client = try ConsoleClient(h)
            for (path, method) in [("/console/nonexistent", "GET"), ("/console/static/missing.css", "GET"), ("/console/people/1/nothing", "POST"),
                                   ("/console/login", "DELETE"), ("/console", "GET")] {
                let r = try await client.request(path, body: method == "POST" ? Data() : nil, method: method)
                for header in ["Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options"] {
                    #expect(r.header(header) != nil, "\(method) \(path) (\(r.status)) has no \(header)")
                }
            }
            // The fleet's own paths are not the console's: no console policy on them.
            let fleet = try await client.request(FleetPath.caCertificate)
            #expect(fleet.status == 200 && fleet.header("Content-Security-Policy") == nil)
        }
    }
}

extension FleetHarness {
    /// The admin API as an operator's token reaches it.
    func api(token: String) throws -> HTTPSFleetTransport {
        try HTTPSFleetTransport(server: url, identity: nil, trustedCA: try serverHome.siteCA().pem.certificatePEM, headers: [("Authorization", "Bearer \(token)")])
    }
}

/// The live board's position in the central log, without a server.
@Suite struct LiveCursorTests {
    @Test func aBacklogIsReadOnceAPageAtATimeAndAnAlarmAheadIsSentOnce() {
        var c = LiveCursor(after: 0, lateCommitWindow: 120)
        let now = Date()
        // An alarm far ahead of a 20,000-row backlog goes out at once, and not again when the
        // pages reach it.
        let first = c.sendAhead(20_001), second = c.sendAhead(20_001)
        #expect(first && !second)
        var sent: [Int64] = []
        for page in stride(from: Int64(1), through: 20_001, by: 5000) {
            let arrivals = Array(page..<min(page + 5000, 20_002))
            c.advance(over: arrivals, now: now)
            sent += arrivals.filter { c.shouldSend($0) }
        }
        #expect(c.cursor == 20_001)
        #expect(sent.count == 20_000 && !sent.contains(20_001))
    }

    @Test func aNumberSkippedBelowTheCursorIsLookedForUntilTheWindowEnds() {
        var c = LiveCursor(after: 10, lateCommitWindow: 120)
        let now = Date()
        c.advance(over: [11, 14, 15], now: now)
        #expect(c.openGaps == [12, 13])
        c.filled([13])
        #expect(c.openGaps == [12])
        c.expire(now: now.addingTimeInterval(60))
        #expect(c.openGaps == [12])
        c.expire(now: now.addingTimeInterval(121))
        #expect(c.openGaps.isEmpty)
        // An alarm behind the cursor is not "ahead".
        let behind = c.sendAhead(12)
        #expect(!behind)
    }
}

/// The live board with a board's backlog arriving: a new alarm is on the guard's screen
/// before the rows queued ahead of it.
@Suite(.serialized) struct LiveBoardBacklogTests {
    @Test func anAlarmBehindABacklogIsStreamedFirst() async throws {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole()])
        try await h.whileRunning {
            try await h.central { store in
                _ = try await store.addOperator("ana", role: .admin, by: Operator("test-admin"))
                try await store.setConsolePassword("ana", password: SignInGateTests.password, by: Operator("test-admin"))
            }
            let c = try ConsoleClient(h)
            #expect(try await c.login("ana", SignInGateTests.password).status == 303)
            let board = try await h.joinedController("b1")
            // 6,000 decisions queued offline (more than a page), then a forced door.
            var queued = (0..<6000).map { _ in AuditEvent(kind: .decision, type: "access.denied", door: "lobby") }
            queued.append(AuditEvent(kind: .door, type: "door.forced_open", door: "lobby"))
            _ = try board.audit.append(queued)
            try await board.drain()

            let ca = h.root + "/ca-live.pem", streamed = h.root + "/live.txt"
            try h.serverHome.siteCA().pem.certificatePEM.write(toFile: ca, atomically: true, encoding: .utf8)
            let stream = try Spawn.start(["/usr/bin/curl", "-sN", "--cacert", ca, "-o", streamed,
                                          "-H", "Cookie: \(WebConsole.cookieName)=\(try #require(c.cookie))", "\(h.url)/console/live?after=0"])
            defer { stream.kill(SIGKILL); _ = stream.wait() }
            var said = ""
            for _ in 0..<600 where !said.contains("door.forced_open") {
                try await Task.sleep(for: .milliseconds(100))
                said = (try? String(contentsOfFile: streamed, encoding: .utf8)) ?? ""
            }
            let before = said.components(separatedBy: "door.forced_open").first?.components(separatedBy: "event: entry").count ?? 0
            #expect(said.contains("door.forced_open"), "the alarm never reached the live board")
            #expect(before - 1 < 100, "\(before - 1) entries were streamed before the alarm")
        }
    }
}

/// A central database restored from a backup hands revision numbers out again: the boards
/// notice the feed's new identity and take a fresh snapshot.
@Suite(.serialized) struct FeedIdentityTests {
    @Test func aBoardTakesASnapshotAfterTheDatabaseIsRestoredFromABackup() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let admin = Operator("test-admin")
            let board = try await h.joinedController("b1")
            let badge = try BadgeCredential(parsing: "12:1001")
            let (kept, _) = try await h.central { store in
                let p1 = try await store.addPerson(name: "Kept Person", externalID: "K1", validFrom: nil, validUntil: nil, by: admin)
                _ = try await store.issueBadge(badge, to: p1.id, by: admin)
                return (p1, try await store.currentRevision())
            }
            let backup = h.root + "/central.dump"
            try h.postgres.dump(to: backup)
            // After the backup: someone added, whom the restore forgets.
            try await h.central { store in
                for i in 1...3 { _ = try await store.addPerson(name: "Forgotten \(i)", externalID: "F\(i)", validFrom: nil, validUntil: nil, by: admin) }
            }
            while try await board.agent.syncOnce() > 0 {}
            let before = try board.db.replica.appliedRevision()
            #expect(try board.db.people.list().map(\.displayName).sorted() == ["Forgotten 1", "Forgotten 2", "Forgotten 3", "Kept Person"])

            // The database is restored in place, under the same server home.
            await h.stopServer()
            try h.postgres.restore(from: backup)
            try await h.startServer()
            // Changes made after the restore reuse revision numbers the board already holds.
            try await h.central { store in
                _ = try await store.revokeBadge(badge, by: admin)
                _ = try await store.addPerson(name: "New Person", externalID: "N1", validFrom: nil, validUntil: nil, by: admin)
            }
            #expect(try await h.central { try await $0.currentRevision() } <= before, "the test wants revisions handed out again")
            for _ in 0..<5 { while try await board.agent.syncOnce() > 0 {} }
            #expect(try board.db.people.list().map(\.displayName).sorted() == ["Kept Person", "New Person"])
            #expect(try board.db.badges.lookup(badge)?.status != .active, "the badge revoked after the restore is still active on the board")
            #expect(board.recorded.types.contains("fleet.feed_changed"))
            let rewound = try await h.central { store in
                var types: [String] = []
                try await store.forEachEvent(controller: "@server") { _, row in types.append(try AuditChain.event(of: row).type) }
                return types
            }
            #expect(rewound.contains("admin.feed_rewound"))
            _ = kept
        }
    }
}

/// A change a board cannot apply (stored at the server before it checked, or by a newer
/// server) raises an alarm on the board and holds nothing else back.
@Suite(.serialized) struct ApplyFailureTests {
    @Test func aConfigurationABoardCannotWriteIsAnAlarmAndARevocationStillLands() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let admin = Operator("test-admin")
            let board = try await h.joinedController("b1")
            let badge = try BadgeCredential(parsing: "12:2002")
            try await h.central { store in
                let p = try await store.addPerson(name: "Ada", externalID: "E1", validFrom: nil, validUntil: nil, by: admin)
                _ = try await store.issueBadge(badge, to: p.id, by: admin)
            }
            while try await board.agent.syncOnce() > 0 {}
            #expect(try board.db.badges.lookup(badge)?.status == .active)
            // Straight into the store, past the admin API's checks, then a revocation after it.
            try await h.central { store in
                _ = try await store.putConfiguration(.policy, files: [String(repeating: "p", count: 300) + ".yaml": "zones: []\n"], by: admin)
                _ = try await store.revokeBadge(badge, by: admin)
            }
            for _ in 0..<3 { _ = try? await board.agent.syncOnce() }
            #expect(try board.db.badges.lookup(badge)?.status != .active, "the revocation waited behind the bad file")
            #expect(board.recorded.types.contains("fleet.apply_failed"))
            #expect(board.agent.linkStatus.applyProblem?.contains("policy version") == true, "\(board.agent.linkStatus)")
            // A policy that applies clears the alarm's state.
            try await h.central { _ = try await $0.putConfiguration(.policy, files: try ExamplePolicy.files(), by: admin) }
            while try await board.agent.syncOnce() > 0 {}
            #expect(board.agent.linkStatus.applyProblem == nil)
        }
    }
}

/// What one client can hold of the server: idle connections are closed, connections past
/// the cap wait in the kernel's queue instead of using up file descriptors, and a join's
/// body is refused by its declared size before anything reads it.
@Suite(.serialized) struct ConnectionLimitTests {
    /// Opens `count` TCP connections that never speak, and reports how many the server
    /// closed within `seconds`.
    static func idleSockets(port: Int, count: Int, seconds: Int) throws -> Spawn.Running {
        let script = """
        import socket, sys, time
        port, n, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        print("open", flush=True)
        deadline, closed = time.time() + limit, 0
        for s in socks:
            s.settimeout(max(0.1, deadline - time.time()))
            try:
                if s.recv(1) == b"": closed += 1
            except Exception:
                pass
        print("closed", closed, flush=True)
        """
        return try Spawn.start(["/usr/bin/env", "python3", "-c", script, String(port), String(count), String(seconds)])
    }

    @Test func idleConnectionsAreClosedAndABoardIsStillServed() async throws {
        let h = try FleetHarness()
        try await h.startServer(connections: ConnectionLimits(idleTimeout: .seconds(2), maximumConnections: 8))
        try await h.whileRunning {
            let board = try await h.joinedController("b1")
            let idle = try Self.idleSockets(port: h.port, count: 20, seconds: 60)
            defer { idle.kill(SIGKILL); _ = idle.wait() }
            try await Task.sleep(for: .milliseconds(500))
            // More sockets than the cap say nothing; a board's heartbeat still gets through.
            try await board.agent.heartbeatOnce()
            let out = try await offThePool { idle.wait() }
            #expect(out.stdout.contains("closed 20"), "\(out.stdout) \(out.stderr)")
        }
    }

    @Test func aJoinBodyLargerThanAJoinNeedsIsRefusedUnread() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let anonymous = try HTTPSFleetTransport(server: h.url, identity: nil, trustedCA: try h.serverHome.siteCA().pem.certificatePEM)
            let big = Data(repeating: UInt8(ascii: " "), count: 1 << 20)
            let a = await HostileInputTests.answer { try await anonymous.post(FleetPath.join, body: big, timeout: .seconds(30)) }
            #expect(a.status == 413 && a.text.contains("65536"), "\(a)")
            // The server still serves boards after the refusal.
            let board = try await h.joinedController("b1")
            try await board.agent.heartbeatOnce()
        }
    }
}
