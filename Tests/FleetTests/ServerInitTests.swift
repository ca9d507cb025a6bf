import Foundation
import Testing
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
