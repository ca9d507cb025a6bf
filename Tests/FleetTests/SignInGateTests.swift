import Audit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Testing
import WardenCore
import WebConsole

/// The sign-in gate under bursts and hostile credentials, on a real server and PostgreSQL:
/// the lock-out is decided before bcrypt, so a concurrent burst meets it exactly; an
/// address is limited across names; a stranger cannot lock a known operator out from
/// elsewhere; oversized credentials are refused, counted and logged compactly; a TOTP code
/// works once; a refused join is logged.
@Suite(.serialized) struct SignInGateTests {
    static let password = "correct horse battery staple"

    static func loginFailures(_ h: FleetHarness) async throws -> [AuditEvent] {
        try await h.central { store in
            var out: [AuditEvent] = []
            try await store.forEachEvent(controller: "@server") { _, row in
                let e = try AuditChain.event(of: row)
                if e.type == "admin.login_failed" || e.type == "admin.fleet_join_failed" { out.append(e) }
            }
            return out
        }
    }

    @Test func aBurstOfWrongTokensMeetsTheLockOutAfterFiveChecks() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let right = try await h.central { try await $0.addOperator("ana", role: .admin, by: Operator("test-admin")) }
            let wrong = try h.api(token: "wop1.ana." + String(repeating: "0", count: 64))
            let statuses = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<40 { group.addTask { await HostileInputTests.answer { try await wrong.get(AdminPath.people, query: [:], timeout: .seconds(60)) }.status } }
                var all: [Int] = []
                for await s in group { all.append(s) }
                return all
            }
            #expect(statuses.filter { $0 == 401 }.count == CentralStore.lockoutFailures, "\(statuses.sorted())")
            #expect(statuses.filter { $0 == 429 }.count == 40 - CentralStore.lockoutFailures, "\(statuses.sorted())")
            #expect(try await Self.loginFailures(h).count == CentralStore.lockoutFailures)
            // The right token from the same address waits out the window like the rest.
            let ana = try h.api(token: right)
            let locked = await HostileInputTests.answer { try await ana.get(AdminPath.people, query: [:], timeout: .seconds(10)) }
            #expect(locked.status == 429 && locked.text.contains("locked out"), "\(locked)")
        }
    }

    @Test func aBurstOfWrongConsolePasswordsMeetsTheLockOutAfterFiveChecks() async throws {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole()])
        try await h.whileRunning {
            try await h.central { store in
                _ = try await store.addOperator("ana", role: .admin, by: Operator("test-admin"))
                try await store.setConsolePassword("ana", password: Self.password, by: Operator("test-admin"))
            }
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<30 { group.addTask { try await ConsoleClient(h).login("ana", "not the password at all").status } }
                var all: [Int] = []
                for try await s in group { all.append(s) }
                return all
            }
            #expect(statuses.filter { $0 == 401 }.count == CentralStore.lockoutFailures, "\(statuses.sorted())")
            #expect(statuses.filter { $0 == 429 }.count == 30 - CentralStore.lockoutFailures, "\(statuses.sorted())")
        }
    }

    @Test func oneAddressIsLimitedAcrossNamesAndLogsEachFailureCompactly() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let longName = String(repeating: "x", count: 4096)
            var statuses: [Int] = []
            for i in 0..<40 {
                let t = try h.api(token: "wop1.\(longName)\(i).secret")
                statuses.append(await HostileInputTests.answer { try await t.get(AdminPath.people, query: [:], timeout: .seconds(10)) }.status)
            }
            #expect(statuses.prefix(CentralStore.failuresPerSource).allSatisfy { $0 == 401 } && statuses.dropFirst(CentralStore.failuresPerSource).allSatisfy { $0 == 429 },
                    "\(statuses)")
            let logged = try await Self.loginFailures(h)
            #expect(logged.count == CentralStore.failuresPerSource)
            let rows = try await h.centralRows("@server")
            #expect(rows.allSatisfy { $0.payload.utf8.count < 1024 }, "a failure row carries the name it was sent: \(rows.map(\.payload.utf8.count).max() ?? 0) bytes")
            #expect(logged.allSatisfy { $0.operator?.hasPrefix("(not an operator name") ?? false })
        }
    }

    @Test func failuresFromOneAddressDoNotLockTheOperatorOutElsewhere() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            try await h.central { store in
                let right = try await store.addOperator("ana", role: .admin, by: Operator("test-admin"))
                for _ in 0..<(CentralStore.lockoutFailures + 3) {
                    await #expect(throws: CentralError.self) { _ = try await store.authenticate(token: "wop1.ana." + String(repeating: "1", count: 64), source: "203.0.113.9") }
                }
                await #expect { _ = try await store.authenticate(token: right, source: "203.0.113.9") } throws: { e in (e as? CentralError)?.httpStatus == 429 }
                // The operator at their own desk is still let in.
                #expect(try await store.authenticate(token: right, source: "192.0.2.10").name == "ana")
            }
        }
    }

    @Test func anOversizedSignInIsRefusedCountedAndLoggedNotA503() async throws {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole()])
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            let r = try await c.login(String(repeating: "n", count: 900_000), "whatever-whatever")
            #expect(r.status == 401 && r.body.contains("wrong name, password or code"), "\(r.status)")
            let nul = try await c.login("ana\u{0}", "whatever-whatever")
            #expect(nul.status == 401, "\(nul.status)")
            let logged = try await Self.loginFailures(h)
            #expect(logged.count == 2 && logged.allSatisfy { ($0.operator ?? "").utf8.count < 64 }, "\(logged.map { $0.operator ?? "" })")
        }
    }

    @Test func aTOTPCodeSignsInOnce() async throws {
        let clock = ManualClock(Date())
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole(clock: { clock.now })])
        try await h.whileRunning {
            let totp = try await h.central { store in
                _ = try await store.addOperator("ana", role: .admin, by: Operator("test-admin"))
                try await store.setConsolePassword("ana", password: Self.password, by: Operator("test-admin"))
                return try await store.setConsoleTOTP("ana", enabled: true, by: Operator("test-admin"))!
            }
            let code = totp.code(at: clock.now)
            #expect(try await ConsoleClient(h).login("ana", Self.password, code: code).status == 303)
            let again = try await ConsoleClient(h).login("ana", Self.password, code: code)
            #expect(again.status == 401, "the same code signed in twice")
            // The next step's code still works (a code is refused for being used, not for being late).
            clock.advance(by: TOTP.step)
            #expect(try await ConsoleClient(h).login("ana", Self.password, code: totp.code(at: clock.now)).status == 303)
            // An older step's code, even unused, is refused once a newer one was used.
            #expect(try await ConsoleClient(h).login("ana", Self.password, code: totp.code(at: clock.now.addingTimeInterval(-TOTP.step))).status == 401)
        }
    }

    @Test func aRefusedJoinIsLogged() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let good = try await h.token(for: "door-9")
            let forged = JoinToken(id: good.id, secret: String(repeating: "a", count: good.secret.count), caFingerprint: good.caFingerprint)
            await #expect(throws: (any Error).self) { _ = try await FleetMembership.join(server: h.url, token: forged.description, home: h.root + "/j", wardenVersion: "test") }
            let logged = try await Self.loginFailures(h).filter { $0.type == "admin.fleet_join_failed" }
            #expect(logged.count == 1 && logged.first?.detail?["source"] == "127.0.0.1" && !(logged.first?.detail?.values.contains { $0.contains(forged.secret) } ?? true),
                    "\(logged)")
        }
    }
}
