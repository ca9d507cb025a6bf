import FleetServer
import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// `warden server init` against a database it cannot use fails, non-zero, naming the user it
/// tried and what to change, and writes nothing; the next try with a good URL then works.
/// (It used to wait over a minute, print the connection pool's circuit breaker, exit 0 and
/// leave a home that refused every later init.)
@Suite("server init", .serialized)
struct ServerInitTests {
    func initialise(_ url: String, home: String, json: Bool = false) async throws -> Spawn.Result {
        let bin = try #require(FleetBoardProcessTests.warden, "the warden executable was not built beside the tests")
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        env.removeValue(forKey: "WARDEN_SERVER")
        return try await Spawn.output([bin, "server", "init", "--database", url, "--port", "0", "--name", "127.0.0.1"] + (json ? ["--json"] : []),
                                      environment: env)
    }

    @Test func aLoginTheDatabaseRefusesWritesNothingAndSaysWhatToChange() async throws {
        let postgres = try TestPostgres()
        defer { postgres.destroy() }
        let home = NSTemporaryDirectory() + "warden-init-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let socket = "host=\(postgres.socketDirectory)&port=\(postgres.port)"

        let noRole = try await initialise("postgres:///warden?\(socket)&user=nobody", home: home)
        #expect(noRole.status != 0, "\(noRole.stdout)")
        #expect(noRole.stderr.contains("as user 'nobody'") && noRole.stderr.contains("createuser nobody") && noRole.stderr.contains("nothing was written"),
                "\(noRole.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home + "/server"))

        let noDatabase = try await initialise("postgres:///nosuchdb?\(socket)&user=warden", home: home)
        #expect(noDatabase.status != 0 && noDatabase.stderr.contains("createdb -O warden nosuchdb"), "\(noDatabase.stderr)")

        let nobodyListening = try await initialise("postgres:///warden?host=\(home)/no-socket&user=warden", home: home, json: true)
        struct ErrorReply: Decodable { let error: String; let exitCode: Int32 }
        let reply = try JSONDecoder().decode(ErrorReply.self, from: Data(nobodyListening.stdout.utf8))
        #expect(nobodyListening.status != 0 && reply.exitCode == nobodyListening.status && reply.error.contains("is PostgreSQL running"), "\(reply.error)")
        #expect(!FileManager.default.fileExists(atPath: home + "/server"))

        // Nothing half-made: the right URL now sets the server up, and a second init says
        // what to do instead of only refusing.
        let good = try await initialise(postgres.url, home: home)
        #expect(good.status == 0 && good.stdout.contains("ready (migrated)"), "\(good.stdout) \(good.stderr)")
        let again = try await initialise(postgres.url, home: home)
        #expect(again.status != 0 && again.stderr.contains("already holds a server") && again.stderr.contains("`warden server run` starts it"), "\(again.stderr)")
    
    }

    /// The documented set-up run as the wrong operating-system user: PostgreSQL's peer
    /// authentication refuses the role, and the hint says which user this process is.
    @Test func peerAuthenticationForAnotherUserIsExplained() async throws {
        let postgres = try TestPostgres(otherUsers: "peer")
        defer { postgres.destroy() }
        let home = NSTemporaryDirectory() + "warden-init-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let r = try await initialise("postgres:///warden?host=\(postgres.socketDirectory)&port=\(postgres.port)&user=warden-ops", home: home)
        #expect(r.status != 0 && r.stderr.contains("Peer authentication failed") && r.stderr.contains("Run the server as 'warden-ops'"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home + "/server"))
    }
}

/// Operators can be listed, disabled and enabled again (issue 39: they could be added only).
@Suite("server operators", .serialized)
struct ServerOperatorTests {
    @Test func operatorsAreListedDisabledAndEnabledFromTheCLI() async throws {
        let postgres = try TestPostgres()
        defer { postgres.destroy() }
        let home = NSTemporaryDirectory() + "warden-ops-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let bin = try #require(FleetBoardProcessTests.warden, "the warden executable was not built beside the tests")
        func server(_ args: [String]) async throws -> Spawn.Result {
            var env = ProcessInfo.processInfo.environment
            env["WARDEN_HOME"] = home
            env.removeValue(forKey: "WARDEN_SERVER")
            return try await Spawn.output([bin, "server"] + args, environment: env)
        }
        #expect(try await server(["init", "--database", postgres.url, "--port", "0", "--name", "127.0.0.1"]).status == 0)
        #expect(try await server(["operator", "add", "ana", "--role", "admin"]).status == 0)
        #expect(try await server(["operator", "add", "aud", "--role", "auditor"]).status == 0)
        struct Row: Decodable { let name: String; let role: String; let disabledAt: String?; let consolePassword: Bool }
        func list() async throws -> [Row] { try JSONDecoder().decode([Row].self, from: Data(try await server(["operator", "list", "--json"]).stdout.utf8)) }
        var rows = try await list()
        #expect(rows.map(\.name) == ["ana", "aud"] && rows.map(\.role) == ["admin", "auditor"] && rows.allSatisfy { $0.disabledAt == nil && !$0.consolePassword })
        let disabled = try await server(["operator", "disable", "aud"])
        #expect(disabled.status == 0 && disabled.stdout.contains("operator 'aud' disabled"), "\(disabled.stderr)")
        rows = try await list()
        #expect(rows.first { $0.name == "aud" }?.disabledAt != nil && rows.first { $0.name == "ana" }?.disabledAt == nil)
        #expect(try await server(["operator", "list"]).stdout.contains("aud  auditor  DISABLED since"))
        let again = try await server(["operator", "disable", "aud"])
        #expect(again.status != 0 && again.stderr.contains("already disabled"), "\(again.stderr)")
        let nobody = try await server(["operator", "disable", "zed"])
        #expect(nobody.status != 0 && nobody.stderr.contains("no operator 'zed'"), "\(nobody.stderr)")
        #expect(try await server(["operator", "enable", "aud"]).status == 0)
        #expect(try await list().allSatisfy { $0.disabledAt == nil })
    }

    /// A disabled operator's token is refused at once, and works again once enabled; both
    /// changes are in the server's own audit chain.
    @Test func aDisabledOperatorsTokenIsRefused() async throws {
        let h = try FleetHarness()
        let admin = Operator("test-admin")
        let token = try await h.central { try await $0.addOperator("enzo", role: .enroller, by: admin) }
        #expect(try await h.central { try await $0.authenticate(token: token, source: "test") }.name == "enzo")
        try await h.central { try await $0.setOperatorDisabled("enzo", true, by: admin) }
        await #expect(throws: (any Error).self) { try await h.central { try await $0.authenticate(token: token, source: "test") } }
        try await h.central { try await $0.setOperatorDisabled("enzo", false, by: admin) }
        #expect(try await h.central { try await $0.authenticate(token: token, source: "test") }.name == "enzo")
        let types = try await h.serverEvents().map(\.type)
        #expect(types.contains("admin.operator_disable") && types.contains("admin.operator_enable"))
    }
}
