import CommandSupport
import ArgumentParser
import FleetProtocol
import FleetServer
import Foundation
import Logging
import Matching

import FaceKit
import FleetLink
import OpenCVFaces
import WardenCore
import WebConsole

extension CommandOptions {
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
        version: WardenVersion.current,
        subcommands: [ServerInitCommand.self, ServerRunCommand.self, ServerBenchCommand.self, ServerTokenCommand.self, ServerOperatorCommand.self, ServerRevokeCommand.self,
                      ServerDoorCommand.self, ServerStatusCommand.self, ServerVerifyCommand.self]
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
        let address: DatabaseAddress
        do { address = try DatabaseAddress(parsing: database) } catch { throw CLIError("--database: \(error)") }
        guard !home.exists else {
            let existing = (try? home.settings()).map { " for \((try? DatabaseAddress(parsing: $0.database).description) ?? $0.database)" } ?? ""
            throw CLIError("\(home.path) already holds a server\(existing): `warden server run` starts it. To set it up again from scratch, "
                           + "move \(home.path) aside first (keep its ca.key, which signs every joined controller, and keys/template.key, which opens the stored templates)")
        }
        // The database first, before anything is written: a login it refuses fails here, in
        // seconds, and leaves no half-made home behind.
        let logger = global.serverLogger()
        do { try runBlocking { try await DatabaseProbe.check(address, logger: logger) } } catch let e as DatabaseLoginError {
            throw CLIError(e.description + "; nothing was written")
        }
        do {
            try global.wardenHome.create()
            try home.initialise(site: site, settings: .init(database: database, listen: listen, port: port, names: names))
        } catch let e as CentralError { throw CLIError(e.description) }
        do { _ = try global.withCentralStore { try await $0.currentRevision() } } catch {
            // Logged in, but the tables could not be made (no right to create them, say):
            // the home is taken back, so that the next try starts clean.
            home.discard()
            throw CLIError("the central database \(address) could not be migrated: \(error); nothing was kept in \(home.path)")
        }
        let fingerprint = try home.siteCA().fingerprint
        if global.json {
            struct R: Codable { let home: String; let caFingerprint: String; let names: [String]; let database: String; let databaseReady: Bool }
            try Output.json(R(home: home.path, caFingerprint: fingerprint, names: names, database: address.description, databaseReady: true))
            return
        }
        print("server set up in \(home.path)")
        print("  site CA SHA-256  \(fingerprint)")
        print("  reached as       \(names.joined(separator: ", ")) (port \(port))")
        print("  database         \(address): ready (migrated)")
        print("next: `warden server run`, then `warden server token create --controller NAME` for each board")
    }
}

struct ServerRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the fleet protocol over HTTPS with mutual TLS until SIGTERM.",
        discussion: """
        Stateless: several instances may serve one database. SIGTERM or SIGINT: stops accepting, \
        finishes requests under way, exits 0. The web console is served on the same port at \
        https://HOST:PORT/console for operators with a password (`warden server operator password NAME`).
        """
    )
    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Listen on this port instead of server.yaml's (0: any free port, printed).") var port: Int?
    @Option(help: "Log level: debug, info, notice, warning, error.") var logLevel: String = "info"

    func run() throws {
        let home = global.serverHome
        let logger = global.serverLogger(level: Logger.Level(rawValue: logLevel) ?? .info)
        let port = port
        // Enrollment at the server needs the face models; without them the rest still runs.
        var enrollment: ServerEnrollment? = nil
        do {
            let engine = try global.loadEngine()
            // The second model, when installed beside dlib's: a photo enrolled here becomes a
            // template of each, as on a board (SFace and dlib's 68 points, from --models).
            var second: (any FaceRecognizer)? = nil
            do { second = try InstalledSecondModel(locator: RecognitionModelLocator(faceModels: global.modelLocator)).makeRecognizer() } catch {
                Output.note("warden server: photos are enrolled as dlib templates only: \(InstalledSecondModel.problem(error))")
            }
            enrollment = ServerEnrollment(engine: engine, thresholds: (try? global.thresholds()) ?? .default, second: second)
        } catch {
            Output.note("warden server: photos cannot be enrolled here (\(error)); everything else runs")
        }
        let e = enrollment
        let console = (try? home.settings())?.console
        if let problems = console?.problems, !problems.isEmpty { throw CLIError("\(home.file("server.yaml")): " + problems.joined(separator: "; ")) }
        let consoleOn = console?.enabled ?? true
        let extensions: [any FleetServerExtension] = consoleOn ? [WebConsole(limits: SessionLimits(console))] : []
        do {
            try runBlocking {
                try await ServerRunner.run(home: home, port: port, handleSignals: true, enrollment: e, extensions: extensions, logger: logger) { p, _ in
                    let where_ = consoleOn ? "web console at /console" : "web console off (server.yaml console.enabled)"
                    FileHandle.standardOutput.write(Data("warden server: listening on port \(p) (\(where_))\n".utf8))
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
    static let configuration = CommandConfiguration(commandName: "operator", abstract: "Operator accounts for the admin API and the web console.",
                                                    subcommands: [Add.self, List.self, Disable.self, Enable.self, Password.self, TOTPCommand.self])

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

extension ServerOperatorCommand {
    /// `disable` and `enable`: one change, said in JSON or in words.
    static func setDisabled(_ disabled: Bool, name: String, global: GlobalOptions, by who: Operator, said: String) throws {
        try global.withCentralStore { try await $0.setOperatorDisabled(name, disabled, by: who) }
        if global.json { try Output.json(["name": name, "state": disabled ? "disabled" : "enabled"]); return }
        print("operator '\(name)' \(said)")
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the operators: role, who added them and when, whether disabled, and which console credentials they have."
        )
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let all = try global.withCentralStore { try await $0.operators() }
            if global.json { try Output.json(all); return }
            guard !all.isEmpty else { print("no operators yet: `warden server operator add NAME --role admin` adds the first"); return }
            for o in all {
                let console = o.consolePassword ? "console password" + (o.secondFactor ? " + second factor" : "") : "no console password"
                print("\(o.name)  \(o.role)  " + (o.disabledAt.map { "DISABLED since \(HumanTime.text($0, in: .gmt))" } ?? "active")
                      + "  \(console)  added by \(o.createdBy) at \(HumanTime.text(o.createdAt, in: .gmt))")
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable",
            abstract: "Disable an operator: their token, console password and sessions stop working at once; the account and its history stay.",
            discussion: "`warden server operator enable NAME` undoes it. Operators are never deleted: the audit log names them."
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Argument(help: "The operator's name.") var name: String

        func run() throws {
            try ServerOperatorCommand.setDisabled(true, name: name, global: global, by: op.resolved,
                                                  said: "disabled: their token and console sign-in are refused, and their console sessions ended")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable a disabled operator again (their token and password are as they were).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Argument(help: "The operator's name.") var name: String

        func run() throws { try ServerOperatorCommand.setDisabled(false, name: name, global: global, by: op.resolved, said: "enabled") }
    }

    struct Password: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "password",
            abstract: "Set an operator's web console password (stored as a bcrypt hash); ends their console sessions.",
            discussion: """
            Asked twice at the terminal without echo, or read as one line from standard input with \
            --password-stdin (for scripts: `printf '%s\\n' \"$PW\" | warden server operator password NAME --password-stdin`). \
            12 to 72 bytes; a passphrase of a few words is best. The operator signs in at https://SERVER:PORT/console.
            """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Argument(help: "The operator's name (made by `warden server operator add`).") var name: String
        @Flag(help: "Read the password from standard input (one line) instead of asking.") var passwordStdin = false

        func run() throws {
            let password = try passwordStdin ? SecretInput.line(what: "password") : SecretInput.askTwice("New console password for '\(name)': ", what: "password", flag: "--password-stdin")
            let (n, who) = (name, op.resolved)
            try global.withCentralStore { try await $0.setConsolePassword(n, password: password, by: who) }
            if global.json { try Output.json(["operator": n, "password": "set"]); return }
            print("console password set for '\(n)'; their other console sessions are signed out")
        }
    }

    struct TOTPCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "totp",
            abstract: "Turn an operator's console second factor (TOTP, RFC 6238) on or off.",
            discussion: """
            --on prints a new secret and its otpauth:// URI once: enter either in an authenticator app \
            (6 digits, 30 s). From then on the console asks for the code at sign-in. --off removes it. \
            Either ends the operator's console sessions. Recommended for every admin.
            """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Argument(help: "The operator's name.") var name: String
        @Flag(name: .customLong("on"), help: "Make a new secret and require a code.") var on = false
        @Flag(name: .customLong("off"), help: "Remove the second factor.") var off = false

        func validate() throws { guard on != off else { throw ValidationError("say --on or --off") } }

        func run() throws {
            let (n, who, enable) = (name, op.resolved, on)
            let totp = try global.withCentralStore { try await $0.setConsoleTOTP(n, enabled: enable, by: who) }
            let site = (try? global.serverHome.settings().names.first) ?? nil
            if global.json {
                struct R: Codable { let operator_: String; let totp: Bool; let secret: String?; let uri: String?
                    enum CodingKeys: String, CodingKey { case operator_ = "operator", totp, secret, uri } }
                try Output.json(R(operator_: n, totp: enable, secret: totp?.base32, uri: totp?.uri(account: n, issuer: "Warden \(site ?? "server")")))
                return
            }
            guard let totp else { print("second factor removed for '\(n)'"); return }
            print(totp.uri(account: n, issuer: "Warden \(site ?? "server")"))
            Output.note("second factor on for '\(n)': secret \(totp.base32) (shown once); add it to an authenticator app, then sign in with the code")
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

struct ServerDoorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "door", abstract: "Which controller runs each door.", subcommands: [Move.self])

    struct Move: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "move",
            abstract: "Move a door to another controller (a board replaced, a door rewired).",
            discussion: """
            A door belongs to the controller that first reported it; another board that reports             the same door is not believed (its claim is left out of `status` and no enrollment             at that door's camera goes to it) until an admin moves the door here. Audited             (admin.door_move). Run on the server host.
            """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var op: OperatorOption
        @Argument(help: "The door's id, as the policy names it.") var door: String
        @Option(help: "The controller that runs it now.") var to: String

        func run() throws {
            let (d, c, who) = (door, to, op.resolved)
            try global.withCentralStore { try await $0.moveDoor(d, to: c, by: who) }
            if global.json { try Output.json(["door": d, "controller": c]); return }
            print("door '\(DisplayText.escapingControls(d))' is now run by controller '\(c)'")
        }
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
        print("fleet at revision \(r.currentRevision); \(counted(r.controllers.count, "controller"))")
        let now = Date()
        // Every value here came from a board: its text is printed escaped, and no arithmetic
        // on its numbers can trap (a row stored before the server checked them may hold anything).
        let shown = { (text: String) in DisplayText.escapingControls(text) }
        for c in r.controllers {
            let seen = c.lastSeen.map { "\(Self.wholeSeconds(now.timeIntervalSince($0))) s ago" } ?? "never"
            let (behind, overflow) = r.currentRevision.subtractingReportingOverflow(c.appliedRevision)
            var line = "  \(shown(c.name).padding(toLength: 16, withPad: " ", startingAt: 0)) \(c.status.padding(toLength: 8, withPad: " ", startingAt: 0)) v\(shown(c.wardenVersion ?? "?"))  seen \(seen)"
            line += "  revision \(c.appliedRevision)" + (overflow || behind < 0 ? " (not a revision of this server)" : behind > 0 ? " (\(behind) behind)" : " (current)")
            line += "  events buffered \(c.bufferedEvents), stored through \(c.highWater)"
            if let s = c.clockSkewSeconds, s.isFinite { line += String(format: "  clock %+.1f s", s) + (abs(s) > FleetTiming.clockSkewAlarm ? " SKEW ALARM" : "") }
            print(line)
            for d in c.doors { print("      door \(shown(d.id)): \(shown(d.state))") }
        }
    }

    /// Seconds as a whole number for display, whatever the value.
    static func wholeSeconds(_ s: Double) -> String {
        s.isFinite && abs(s) < 1e15 ? String(Int(s)) : "?"
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
