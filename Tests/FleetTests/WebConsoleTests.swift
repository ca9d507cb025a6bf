import Audit
import FleetProtocol
import FleetServer
import Foundation
import Testing
import WardenCore
@testable import WebConsole

/// The web console's promises as an attacker and an operator would test them, over real
/// HTTPS against a server on a private PostgreSQL: sign-in and lock-out, sessions' time-outs,
/// CSRF and origin checks, roles, escaping, the security headers, and the audit of every change.
@Suite(.serialized) struct WebConsoleTests {
    static let password = "correct horse battery staple"

    /// A server with the console, the example policy published, and three operators with
    /// console passwords: ana (admin), eve (enroller), aud (auditor).
    func site(limits: SessionLimits = SessionLimits(), clock: ManualClock = ManualClock(Date())) async throws -> FleetHarness {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole(limits: limits, clock: { clock.now })])
        let files = try ExamplePolicy.files()
        try await h.central { store in
            let admin = Operator("test-admin")
            _ = try await store.putConfiguration(.policy, files: files, by: admin)
            for (name, role) in [("ana", OperatorRole.admin), ("eve", .enroller), ("aud", .auditor)] {
                _ = try await store.addOperator(name, role: role, by: admin)
                try await store.setConsolePassword(name, password: Self.password, by: admin)
            }
        }
        return h
    }

    func serverEvents(_ h: FleetHarness) async throws -> [AuditEvent] { try await h.serverEvents() }

    @Test func everyPageNeedsASessionAndCarriesTheSecurityHeaders() async throws {
        let h = try await site()
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            for path in ["/console", "/console/people", "/console/access", "/console/audit", "/console/controllers", "/console/audit/export?format=csv"] {
                let r = try await c.get(path)
                #expect(r.status == 303 && r.location == "/console/login", "\(path): \(r.status) \(r.location ?? "")")
            }
            #expect(try await c.get("/console/live").status == 401)
            let login = try await c.get("/console/login")
            #expect(login.status == 200 && login.body.contains("Sign in"))
            let csp = try #require(login.header("Content-Security-Policy"))
            #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "\(csp)")
            #expect(login.header("X-Frame-Options") == "DENY")
            #expect(login.header("Strict-Transport-Security")?.hasPrefix("max-age=") == true)
            #expect(login.header("X-Content-Type-Options") == "nosniff")
            // Referrers stay on the site; `no-referrer` would make browsers send `Origin: null`.
            #expect(login.header("Referrer-Policy") == "same-origin")
            // No page has inline script: every <script> names a file of the site.
            #expect(!login.body.contains("<script>") && login.body.contains("<script src=\"/console/static/console.js\""))

            let signedIn = try await c.login("ana", Self.password)
            #expect(signedIn.status == 303 && signedIn.location == "/console")
            let setCookie = try #require(signedIn.response.header("Set-Cookie").first)
            for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
                #expect(setCookie.localizedCaseInsensitiveContains(attribute), "\(setCookie) lacks \(attribute)")
            }
            #expect(try await c.get("/console/people").status == 200)
            // The session is stored as its hash only: the cookie is nowhere in the database.
            let cookie = try #require(c.cookie)
            let stored = try await h.central { store in
                try await store.one(store.client.query("SELECT count(*) FROM console_session WHERE token_sha256 = \(cookie)", logger: store.logger), Int64.self)
            }
            #expect(stored == 0)
            let logout = try await c.post("/console/logout", [("csrf", try await c.csrf())])
            #expect(logout.status == 303 && logout.location == "/console/login")
            #expect(try await c.get("/console/people").status == 303, "the session ended at sign-out")
            let types = try await serverEvents(h).map(\.type)
            #expect(types.contains("admin.console_login") && types.contains("admin.console_logout"))
        }
    }

    @Test func aChangeWithoutTheSessionsCSRFTokenOrFromAnotherOriginIsRefused() async throws {
        let h = try await site()
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            try await c.login("ana", Self.password)
            let token = try await c.csrf()
            // No token, a wrong one, and another session's.
            #expect(try await c.post("/console/people", [("name", "No Token")]).status == 403)
            #expect(try await c.post("/console/people", [("name", "Wrong Token"), ("csrf", String(repeating: "0", count: 64))]).status == 403)
            let other = try ConsoleClient(h)
            try await other.login("eve", Self.password)
            #expect(try await c.post("/console/people", [("name", "Eves Token"), ("csrf", try await other.csrf())]).status == 403)
            // The right token from another site's page.
            c.origin = "https://evil.example"
            #expect(try await c.post("/console/people", [("name", "Other Origin"), ("csrf", token)]).status == 403)
            c.origin = h.url
            let names = try await h.central { try await $0.listPeople() }.map(\.displayName)
            #expect(names.isEmpty, "refused changes added \(names)")
            // The photo upload takes its token in a header.
            let upload = try await c.request("/console/people/1/enroll", body: Data([0xff, 0xd8]), headers: [("Content-Type", "application/octet-stream")])
            #expect(upload.status == 403)

            let made = try await c.post("/console/people", [("name", "With Token"), ("csrf", token)])
            #expect(made.status == 303 && made.location?.hasPrefix("/console/people/") == true)
            // The change is in the server's log with the operator who made it.
            let added = try await serverEvents(h).filter { $0.type == "admin.person_add" }
            #expect(added.count == 1 && added.first?.operator == "ana", "\(added)")
        }
    }

    @Test func aSessionCannotDoWhatItsRoleForbidsWhateverItSends() async throws {
        let h = try await site()
        try await h.whileRunning {
            let person = try await h.central { try await $0.addPerson(name: "Grace Hopper", externalID: "G1", validFrom: nil, validUntil: nil, by: Operator("test-admin")) }
            let auditor = try ConsoleClient(h), enroller = try ConsoleClient(h)
            try await auditor.login("aud", Self.password)
            try await enroller.login("eve", Self.password)
            let (a, e) = (try await auditor.csrf(), try await enroller.csrf())

            // The auditor reads every page and changes nothing.
            for path in ["/console", "/console/people", "/console/people/\(person.id)", "/console/access", "/console/audit", "/console/controllers"] {
                #expect(try await auditor.get(path).status == 200, "\(path)")
            }
            // A GET form's query as a browser writes it: a space is '+'.
            #expect(try await auditor.get("/console/people?q=Grace+Hopper").body.contains("/console/people/\(person.id)\">Grace Hopper</a>"))
            #expect(try await auditor.get("/console/people?q=Grace+Kelly").body.contains("Nobody matches."))
            let people = try await auditor.get("/console/people").body
            #expect(!people.contains("Add a person"), "an auditor is shown no form to change anything")
            #expect(try await auditor.post("/console/people", [("name", "By Auditor"), ("csrf", a)]).status == 403)
            #expect(try await auditor.post("/console/people/\(person.id)/status", [("active", "false"), ("csrf", a)]).status == 403)
            #expect(try await auditor.post("/console/people/\(person.id)/badges", [("format", "H10301"), ("credential", "12:34"), ("csrf", a)]).status == 403)
            #expect(try await auditor.post("/console/controllers/token", [("name", "door-9"), ("csrf", a)]).status == 403)
            // The enroller enrolls and issues badges, and grants nothing.
            #expect(try await enroller.post("/console/people/\(person.id)/badges", [("format", "H10301"), ("credential", "12:34"), ("csrf", e)]).status == 303)
            #expect(try await enroller.post("/console/access/grants", [("person", "G1"), ("zone", "office-floor"), ("csrf", e)]).status == 403)
            #expect(try await enroller.post("/console/people/\(person.id)/groups", [("group", "it-admins"), ("add", "true"), ("csrf", e)]).status == 403)
            #expect(try await enroller.post("/console/controllers/revoke", [("name", "x"), ("confirm", "yes"), ("csrf", e)]).status == 403)
            let access = try await enroller.get("/console/access").body
            #expect(!access.contains("id=\"grant\""), "an enroller is shown no grant form")

            let site = try await h.central { try await $0.siteView() }
            #expect(site.grants.isEmpty && site.groups.allSatisfy { !$0.members.contains(person.id) })
            let detail = try await h.central { try await $0.personDetail("#\(person.id)") }
            #expect(detail.person.status == "active" && detail.badges.count == 1)

            // A role taken away takes effect at the next request of a session already open.
            try await h.central { store in
                _ = try await store.client.query("UPDATE operator SET disabled_at = now() WHERE name = 'eve'", logger: store.logger)
            }
            #expect(try await enroller.get("/console/people").status == 303)
        }
    }

    @Test func whatPeopleAndControllersWriteIsShownAsText() async throws {
        let h = try await site()
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            try await c.login("ana", Self.password)
            let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
            let r = try await c.post("/console/people", [("name", hostile), ("external_id", "\"><b>x"), ("csrf", try await c.csrf())])
            #expect(r.status == 303)
            let id = try #require(r.location?.split(separator: "/").last.map(String.init))
            for path in ["/console/people", "/console/people/\(id)", "/console/audit"] {
                let page = try await c.get(path).body
                #expect(!page.contains("<script>alert") && !page.contains("<img src=x") && !page.contains("\"><b>x"), "\(path) shows markup")
                #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path) does not show the name as text")
            }
            // A search for it is escaped in the form it fills again.
            let search = try await c.get("/console/people?q=%22%3E%3Cscript%3Ex").body
            #expect(!search.contains("\"><script>x") && search.contains("&quot;&gt;&lt;script&gt;x"))
        }
    }

    @Test func repeatedFailedSignInsLockTheNameOutAndAreLogged() async throws {
        let h = try await site()
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            for _ in 0..<CentralStore.lockoutFailures {
                let r = try await c.login("ana", "not the password at all")
                #expect(r.status == 401 && r.body.contains("wrong name, password or code"))
            }
            // Now even the right password is refused, and the page says why.
            let locked = try await c.login("ana", Self.password)
            #expect(locked.status == 429 && locked.body.contains("locked out"), "\(locked.status)")
            #expect(c.cookie == nil)
            // An unknown name answers as a wrong password does.
            let unknown = try await ConsoleClient(h).login("nobody", Self.password)
            #expect(unknown.status == 401 && unknown.body.contains("wrong name, password or code"))
            let failures = try await serverEvents(h).filter { $0.type == "admin.login_failed" }
            #expect(failures.count == CentralStore.lockoutFailures + 1)
            #expect(failures.allSatisfy { $0.detail?["via"] == "console" && $0.detail?["source"] == "127.0.0.1" })
            // Another operator from elsewhere is not locked out by ana's failures.
            #expect(try await ConsoleClient(h).login("eve", Self.password).status == 303)
        }
    }

    @Test func oneAddressTryingManyNamesIsRefusedForEveryName() async throws {
        let h = try await site(limits: SessionLimits(failuresPerSource: 6))
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            for name in ["a1", "a2", "a3", "a4", "a5", "a6"] { #expect(try await c.login(name, "guess-guess-guess").status == 401) }
            let r = try await c.login("eve", Self.password)
            #expect(r.status == 429 && r.body.contains("too many failed sign-ins from 127.0.0.1"))
        }
    }

    @Test func sessionsEndAfterTheIdleAndTheAbsoluteTimeOut() async throws {
        let clock = ManualClock(Date())
        let h = try await site(limits: SessionLimits(idle: 600, absolute: 3600), clock: clock)
        try await h.whileRunning {
            let c = try ConsoleClient(h)
            try await c.login("ana", Self.password)
            // Used every nine minutes, it lives; past the hour it ends however busy it is.
            for _ in 0..<6 {
                clock.advance(by: 540)
                #expect(try await c.get("/console/people").status == 200)
            }
            clock.advance(by: 540)
            #expect(try await c.get("/console/people").status == 303)
            // Idle for more than ten minutes: signed out.
            try await c.login("ana", Self.password)
            clock.advance(by: 601)
            #expect(try await c.get("/console/people").status == 303)
            // A new password ends the sessions opened with the old one.
            try await c.login("ana", Self.password)
            try await h.central { try await $0.setConsolePassword("ana", password: "another long passphrase", by: Operator("test-admin")) }
            #expect(try await c.get("/console/people").status == 303)
            #expect(try await c.login("ana", Self.password).status == 401)
            #expect(try await c.login("ana", "another long passphrase").status == 303)
        }
    }

    @Test func anAdminWithASecondFactorNeedsTheCurrentCode() async throws {
        let clock = ManualClock(Date())
        let h = try await site(clock: clock)
        try await h.whileRunning {
            let totp = try #require(try await h.central { try await $0.setConsoleTOTP("ana", enabled: true, by: Operator("test-admin")) })
            let c = try ConsoleClient(h)
            #expect(try await c.login("ana", Self.password).status == 401, "no code")
            let wrong = totp.code(at: clock.now) == "000000" ? "111111" : "000000"
            #expect(try await c.login("ana", Self.password, code: wrong).status == 401)
            #expect(try await c.login("ana", Self.password, code: totp.code(at: clock.now.addingTimeInterval(-300))).status == 401, "a code from 5 minutes ago")
            #expect(try await c.login("ana", Self.password, code: totp.code(at: clock.now)).status == 303)
            let login = try await serverEvents(h).last { $0.type == "admin.console_login" }
            #expect(login?.detail?["second_factor"] == "totp")
            // Passwords that are too short are refused before anything is stored.
            await #expect(throws: CentralError.self) { try await h.central { try await $0.setConsolePassword("eve", password: "short", by: Operator("t")) } }
        }
    }

    /// The console as an operator sets it up: only through the CLI, against `warden server
    /// run` as a process of its own.
    @Test func theServerCommandServesTheConsoleToAnOperatorTheCLISetUp() async throws {
        let bin = try #require(FleetBoardProcessTests.warden, "the warden executable was not built beside the tests")
        let postgres = try TestPostgres()
        defer { postgres.destroy() }
        let home = NSTemporaryDirectory() + "warden-console-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        func warden(_ args: [String]) async throws -> Spawn.Result {
            var env = ProcessInfo.processInfo.environment
            env["WARDEN_HOME"] = home
            env.removeValue(forKey: "WARDEN_SERVER")
            return try await Spawn.output([bin, "server"] + args, environment: env)
        }
        #expect(try await warden(["init", "--database", postgres.url, "--port", "0", "--name", "127.0.0.1"]).status == 0)
        #expect(try await warden(["operator", "add", "ana", "--role", "admin"]).status == 0)
        // No terminal and no --password-stdin: refused with what to do, nothing set.
        let noTerminal = try await warden(["operator", "password", "ana"])
        #expect(noTerminal.status != 0 && noTerminal.stderr.contains("--password-stdin"), "\(noTerminal.stderr)")
        let short = try await Spawn.output(["/bin/sh", "-c", "printf 'short\\n' | \"$0\" server operator password ana --password-stdin", bin],
                                           environment: ProcessInfo.processInfo.environment.merging(["WARDEN_HOME": home]) { $1 })
        #expect(short.status != 0 && short.stderr.contains("12 to 72 bytes"), "\(short.stderr)")
        let set = try await Spawn.output(["/bin/sh", "-c", "printf '%s\\n' \"$1\" | \"$0\" server operator password ana --password-stdin", bin, Self.password],
                                         environment: ProcessInfo.processInfo.environment.merging(["WARDEN_HOME": home]) { $1 })
        #expect(set.status == 0 && set.stdout.contains("console password set for 'ana'"), "\(set.stdout) \(set.stderr)")
        let totp = try await warden(["operator", "totp", "ana", "--on", "--json"])
        struct TOTPReply: Decodable { let secret: String; let uri: String }
        let reply = try JSONDecoder().decode(TOTPReply.self, from: Data(totp.stdout.utf8))
        #expect(reply.uri.hasPrefix("otpauth://totp/") && reply.uri.contains("secret=\(reply.secret)"))
        let code = try #require(TOTP(base32: reply.secret)).code(at: Date())

        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        /// `warden server run` on a free port: the process and the line that names the port.
        func serve() async throws -> (Spawn.Running, port: Int, line: String) {
            let run = try Spawn.start([bin, "server", "run", "--port", "0", "--log-level", "warning"], environment: env)
            for _ in 0..<300 {
                if let line = run.outputSoFar().split(separator: "\n").first(where: { $0.contains("listening on port") }),
                   let port = line.split(separator: " ").compactMap({ Int($0) }).first { return (run, port, String(line)) }
                try await Task.sleep(for: .milliseconds(100))
            }
            run.kill(SIGKILL)
            throw ConsoleTestError("warden server run printed no port in 30 s: \(run.wait().stderr)")
        }
        let (run, p, _) = try await serve()
        defer { run.kill(SIGTERM); _ = run.wait() }
        let ca = try String(contentsOfFile: home + "/server/ca.pem", encoding: .utf8)
        let c = ConsoleClient(base: "https://127.0.0.1:\(p)", caPEM: ca)
        #expect(try await c.login("ana", Self.password).status == 401, "the second factor is on")
        #expect(try await c.login("ana", Self.password, code: code).status == 303)
        let board = try await c.get("/console")
        #expect(board.status == 200 && board.body.contains("Live board") && board.body.contains("ana (admin)"))
        // A guard's board is open (its live stream, held by curl) when the server is stopped:
        // the stream ends at once and says why, rather than holding the shutdown for its 50 s.
        let streamed = home + "/live.txt"
        let stream = try Spawn.start(["/usr/bin/curl", "-sN", "--cacert", home + "/server/ca.pem", "-o", streamed,
                                      "-H", "Cookie: \(WebConsole.cookieName)=\(try #require(c.cookie))", "https://127.0.0.1:\(p)/console/live"])
        defer { stream.kill(SIGKILL); _ = stream.wait() }
        for _ in 0..<300 where !((try? String(contentsOfFile: streamed, encoding: .utf8))?.contains("retry:") ?? false) {
            try await Task.sleep(for: .milliseconds(100))
        }
        run.kill(SIGTERM)
        #expect(run.wait().status == 0, "SIGTERM ends the server cleanly")
        #expect(stream.wait().status == 0)
        let said = (try? String(contentsOfFile: streamed, encoding: .utf8)) ?? ""
        #expect(said.contains("event: closing") && said.contains("the server is stopping"), "\(said)")

        // server.yaml's console section: a value out of range stops the start with its reason;
        // `enabled: false` serves no console, and the rest of the server runs.
        let yaml = try String(contentsOfFile: home + "/server/server.yaml", encoding: .utf8)
        try (yaml + "console:\n  idle_minutes: 0\n").write(toFile: home + "/server/server.yaml", atomically: true, encoding: .utf8)
        let refused = try await warden(["run", "--port", "0"])
        #expect(refused.status != 0 && refused.stderr.contains("console.idle_minutes must be 1 to 1440"), "\(refused.stderr)")
        try (yaml + "console:\n  enabled: false\n").write(toFile: home + "/server/server.yaml", atomically: true, encoding: .utf8)
        let (off, offPort, line) = try await serve()
        defer { off.kill(SIGTERM); _ = off.wait() }
        #expect(line.contains("web console off"))
        let closed = ConsoleClient(base: "https://127.0.0.1:\(offPort)", caPEM: ca)
        #expect(try await closed.get("/console/login").status == 404)
    }

    /// An empty field is left out of a page, not shown as its label with nothing after it.
    @Test func emptyFieldsShowNothing() {
        let v = ConsoleRoutes.withoutEmptyText(["parent": "", "name": "Building", "zones": [["id": "a", "parent": ""], ["id": "b", "parent": "a"]], "tags": ["", "x"]])
        #expect(v["parent"] == nil && v["name"] as? String == "Building")
        let zones = v["zones"] as? [[String: Any]]
        #expect(zones?[0]["parent"] == nil && zones?[1]["parent"] as? String == "a")
        #expect((v["tags"] as? [Any])?.count == 1)
    }

    /// RFC 6238's SHA-1 test vectors (its 8-digit codes, of which ours are the last six).
    @Test func totpCodesMatchTheRFC() throws {
        let t = TOTP(secret: Array("12345678901234567890".utf8))
        for (time, code) in [(59.0, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"), (2000000000, "279037")] {
            #expect(t.code(at: Date(timeIntervalSince1970: time)) == code, "\(time)")
        }
        #expect(TOTP(base32: t.base32) == t)
        #expect(t.accepts("287 082", at: Date(timeIntervalSince1970: 59 + 30)))
        #expect(!t.accepts("287082", at: Date(timeIntervalSince1970: 59 + 90)))
        #expect(!t.accepts("28708", at: Date(timeIntervalSince1970: 59)))
    }
}
