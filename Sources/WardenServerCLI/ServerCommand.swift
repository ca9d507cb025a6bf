import ArgumentParser
import FleetProtocol
import FleetServer
import Foundation
import Logging
import Matching
import WardenCLI
import FleetLink
import WardenCore

extension GlobalOptions {
    /// The fleet server's directory inside the data directory: its configuration and
    /// secrets (all other server state is in PostgreSQL).
    var serverHome: ServerHome { ServerHome(path: wardenHome.file("server")) }

    func serverLogger(level: Logger.Level = .warning) -> Logger {
        var l = Logger(label: "warden-server") { StreamLogHandler.standardError(label: $0) }
        l.logLevel = level
        return l
    }

    /// Runs `body` against the central database named by the server's configuration.
    func withCentralStore<T: Sendable>(_ body: @escaping @Sendable (CentralStore) async throws -> T) throws -> T {
        let home = serverHome, logger = serverLogger()
        do { return try runBlocking { try await ServerRunner.withStore(home: home, logger: logger, body) } } catch let e as CentralError {
            throw CLIError(e.description)
        } catch let e as PSQLErrorDescription { throw CLIError(e.description) } catch {
            throw CLIError(PSQLErrorDescription.describe(error, database: (try? home.settings().database) ?? "?"))
        }
    }
}

/// Turns postgres-nio's errors into a line an operator can act on.
struct PSQLErrorDescription: Error, CustomStringConvertible {
    let description: String
    static func describe(_ error: Error, database: String) -> String {
        let text = String(reflecting: error)
        if text.contains("connectionError") || text.contains("No such file") || text.contains("Connection refused") {
            return "cannot reach the central database (\((try? DatabaseAddress(parsing: database).description) ?? database)): is PostgreSQL running? (\(text.prefix(200)))"
        }
        return "the central database failed: \(text.prefix(400))"
    }
}

public struct WardenServerCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "warden-server",
        abstract: "The fleet server: the system of record on PostgreSQL for every controller of a site.",
        discussion: """
        Set up once with `warden server init`, run it with `warden server run` (under systemd: \
        hardware/warden-server.service), then join each board: `warden server token create \
        --controller NAME` here, `warden fleet join URL --token T` on the board. See docs/fleet.md.
        """,
        subcommands: [ServerInitCommand.self, ServerRunCommand.self, ServerBenchCommand.self, ServerTokenCommand.self, ServerOperatorCommand.self, ServerRevokeCommand.self,
                      ServerStatusCommand.self, ServerVerifyCommand.self]
    )
}

struct ServerInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the server's site CA, its TLS certificate and its template key, and migrate the database.",
        discussion: """
        Writes <home>/server/ (server.yaml, ca.key, ca.pem, server.key, server.pem, keys/template.key). \
        Back ca.key and keys/template.key up: the first signs every controller, the second opens the \
        templates stored in PostgreSQL. A second server instance for the same database gets a copy \
        of the whole directory.
        """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The central database.", discussion: "postgres://USER:PASSWORD@HOST:PORT/DB, or postgres:///DB?host=/run/postgresql&user=warden for a local socket.", valueName: "url"))
    var database: String
    @Option(help: "The site's name, in the CA's certificate.") var site: String = "warden"
    @Option(help: "Address to listen on.") var listen: String = "0.0.0.0"
    @Option(help: "Port to listen on.") var port: Int = 8443
    @Option(name: .customLong("name"), help: ArgumentHelp("A DNS name or IP address controllers reach the server by (repeat for several).", valueName: "host"))
    var names: [String] = []

    func run() throws {
        let home = global.serverHome
        var names = names
        if names.isEmpty { names = [ProcessInfo.processInfo.hostName, "localhost", "127.0.0.1"] }
        _ = try DatabaseAddress(parsing: database)
        do {
            try global.wardenHome.create()
            try home.initialise(site: site, settings: .init(database: database, listen: listen, port: port, names: names))
        } catch let e as CentralError { throw CLIError(e.description) }
        let migrated = Result { try global.withCentralStore { try await $0.currentRevision() } }
        let fingerprint = try home.siteCA().fingerprint
        if global.json {
            struct R: Codable { let home: String; let caFingerprint: String; let names: [String]; let databaseReady: Bool; let databaseProblem: String? }
            var problem: String? = nil
            if case .failure(let e) = migrated { problem = "\(e)" }
            try Output.json(R(home: home.path, caFingerprint: fingerprint, names: names, databaseReady: problem == nil, databaseProblem: problem))
            return
        }
        print("server set up in \(home.path)")
        print("  site CA SHA-256  \(fingerprint)")
        print("  reached as       \(names.joined(separator: ", ")) (port \(port))")
        switch migrated {
        case .success: print("  database         ready (migrated)")
        case .failure(let e): print("  database         NOT READY: \(e)\n  (it is migrated when `warden server run` starts)")
        }
        print("next: `warden server run`, then `warden server token create --controller NAME` for each board")
    }
}

struct ServerRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the fleet protocol over HTTPS with mutual TLS until SIGTERM.",
        discussion: "Stateless: several instances may serve one database. SIGTERM or SIGINT: stops accepting, finishes requests under way, exits 0."
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "Listen on this port instead of server.yaml's (0: any free port, printed).") var port: Int?
    @Option(help: "Log level: debug, info, notice, warning, error.") var logLevel: String = "info"

    func run() throws {
        let home = global.serverHome
        let logger = global.serverLogger(level: Logger.Level(rawValue: logLevel) ?? .info)
        let port = port
        // Enrollment at the server needs the face models; without them the rest still runs.
        var enrollment: ServerEnrollment? = nil
        do { enrollment = ServerEnrollment(engine: try global.loadEngine(), thresholds: (try? global.thresholds()) ?? .default) } catch {
            Output.note("warden server: photos cannot be enrolled here (\(error)); everything else runs")
        }
        let e = enrollment
        do {
            try runBlocking {
                try await ServerRunner.run(home: home, port: port, handleSignals: true, enrollment: e, logger: logger) { p, _ in
                    FileHandle.standardOutput.write(Data("warden server: listening on port \(p)\n".utf8))
                }
            }
        } catch let e as CentralError { throw CLIError(e.description) } catch let e as CLIError { throw e } catch {
            throw CLIError(PSQLErrorDescription.describe(error, database: (try? home.settings().database) ?? "?"))
        }
    }
}

struct ServerTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "One-time tokens that let a board join.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Make a one-time join token for a controller.",
            discussion: "The token works once, for that name only, until it expires. It carries the site CA's fingerprint, so the board checks the server before it sends anything."
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Option(help: "The controller's name (a-z, 0-9, '-').") var controller: String
        @Option(help: "How long the token lives, in minutes.") var expiresMinutes: Double = 60

        func run() throws {
            let fingerprint = try global.serverHome.siteCA().fingerprint
            let (name, lifetime, who) = (controller, expiresMinutes * 60, op.resolved)
            let (token, expires) = try global.withCentralStore { try await $0.createJoinToken(controller: name, lifetime: lifetime, caFingerprint: fingerprint, by: who) }
            let settings = try global.serverHome.settings()
            let url = "https://\(settings.names.first ?? "SERVER"):\(settings.port)"
            if global.json {
                struct R: Codable { let controller: String; let token: String; let expires: Date; let join: String }
                try Output.json(R(controller: name, token: token.description, expires: expires, join: "warden fleet join \(url) --token \(token)"))
                return
            }
            print(token.description)
            Output.note("one-time token for controller '\(name)', valid until \(ISO8601DateFormatter().string(from: expires)); on the board run:\n  warden fleet join \(url) --token \(token)")
        }
    }
}

struct ServerOperatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "operator", abstract: "Operator accounts for the admin API.", subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add an operator and print their token (shown once; stored as a bcrypt hash).",
            discussion: "Roles: admin (everything), enroller (people, badges, enrollment; no grants), auditor (read and export only)."
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Argument(help: "The operator's name.") var name: String
        @Option(help: "admin, enroller or auditor.") var role: String

        func run() throws {
            guard let r = OperatorRole(rawValue: role) else { throw ValidationError("--role must be admin, enroller or auditor") }
            let (n, who) = (name, op.resolved)
            let token = try global.withCentralStore { try await $0.addOperator(n, role: r, by: who) }
            if global.json {
                struct R: Codable { let name: String; let role: String; let token: String }
                try Output.json(R(name: n, role: r.rawValue, token: token)); return
            }
            print(token)
            Output.note("operator '\(n)' (\(r.rawValue)) added; the token is shown once: keep it in a password manager")
        }
    }
}

struct ServerRevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a controller: its certificate is refused from its next request, and its name is never reused.",
        discussion: "Its events stay in the central log. The board keeps deciding from its replica, which no longer changes; re-join it under a new name to bring it back."
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "The controller's name.") var controller: String

    func run() throws {
        let (n, who) = (controller, op.resolved)
        try global.withCentralStore { try await $0.revokeController(n, by: who) }
        if global.json { try Output.json(["revoked": n]); return }
        print("controller '\(n)' revoked")
    }
}

struct ServerStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every controller: version, last seen, revision applied against the current one, clock skew, events not yet uploaded, doors.",
        discussion: "Run on the server host (it reads the central database named in <home>/server/server.yaml)."
    )
    @OptionGroup var global: GlobalOptions

    struct Report: Codable { let currentRevision: Int64; let controllers: [ControllerRow] }

    func run() throws {
        let r = try global.withCentralStore { store in Report(currentRevision: try await store.currentRevision(), controllers: try await store.controllers()) }
        if global.json { try Output.json(r); return }
        print("fleet at revision \(r.currentRevision); \(r.controllers.count) controller(s)")
        let now = Date()
        for c in r.controllers {
            let seen = c.lastSeen.map { "\(Int(now.timeIntervalSince($0))) s ago" } ?? "never"
            let behind = r.currentRevision - c.appliedRevision
            var line = "  \(c.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(c.status.padding(toLength: 8, withPad: " ", startingAt: 0)) v\(c.wardenVersion ?? "?")  seen \(seen)"
            line += "  revision \(c.appliedRevision)" + (behind > 0 ? " (\(behind) behind)" : " (current)")
            line += "  events buffered \(c.bufferedEvents), stored through \(c.highWater)"
            if let s = c.clockSkewSeconds { line += String(format: "  clock %+.1f s", s) + (abs(s) > FleetTiming.clockSkewAlarm ? " SKEW ALARM" : "") }
            print(line)
            for d in c.doors { print("      door \(d.id): \(d.state)") }
        }
    }
}

struct ServerVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every controller's chain as stored centrally: gaps, broken links, rows changed after upload, silent controllers.",
        discussion: "Exit status 0 when every chain holds and no controller is silent longer than --silent-minutes, else 1. Run on the server host."
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "A controller not heard from for longer than this is reported.") var silentMinutes: Double = 60

    func run() throws {
        let silent = silentMinutes * 60
        let reports = try global.withCentralStore { try await $0.verifyChains(silentAfter: silent) }
        try CentralChainReport.show(reports, json: global.json)
    }
}
