import CommandSupport
import ArgumentParser
import Audit
import Controller
import FleetLink
import FleetProtocol
import Foundation
import Storage
import WardenCore

struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Join this board to a fleet server, sync it, and see the whole fleet.",
        discussion: """
        On a board: `warden fleet join URL --token T` once; `warden run` then keeps the local \
        replica and the upload going by itself, and keeps deciding from the replica when the \
        link is down. On the server host: `warden fleet status` and `warden fleet verify`.
        """,
        subcommands: [FleetJoinCommand.self, FleetSyncCommand.self, FleetStatusCommand.self, FleetVerifyCommand.self]
    )
}

extension CommandOptions {
    /// This board's membership, or nil off a fleet.
    func fleetMembership() throws -> FleetMembership? {
        do { return try FleetMembership.load(home: wardenHome.path) } catch { throw CLIError("\(error)") }
    }
}

struct FleetJoinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join the fleet server at URL with a one-time token from `warden server token create`.",
        discussion: """
        Fetches the site CA and checks it against the fingerprint in the token (nothing is sent \
        to a server that fails this), makes this board's key (it never leaves the board), and \
        has the CA sign it. From then on this board's people, badges, templates, grants and \
        policy come from the server; make changes there.
        """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The server, as https://HOST:PORT.") var url: String
    @Option(help: "The one-time join token.") var token: String

    func run() throws {
        try global.wardenHome.create()
        let (u, t, home) = (url, token, global.wardenHome.path)
        let m: FleetMembership
        do { m = try runBlocking { try await FleetMembership.join(server: u, token: t, home: home, wardenVersion: WardenVersion.current) } } catch {
            throw CLIError("not joined: \(error)")
        }
        if global.json {
            struct R: Codable { let controller: String; let server: String; let directory: String }
            try Output.json(R(controller: m.settings.controller, server: m.settings.server, directory: m.directory)); return
        }
        print("joined \(m.settings.server) as controller '\(m.settings.controller)' (membership in \(m.directory))")
        print("next: `warden fleet sync` to fetch the replica now, or `warden run --site FILE`, which keeps it in sync")
    }
}

struct FleetSyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Fetch every change from the server into the replica and upload the audit log, once.",
        discussion: "For a board that is not running `warden run` (which syncs continuously by itself)."
    )
    @OptionGroup var global: GlobalOptions

    struct Report: Codable { let controller: String; let appliedRevision: Int64; let items: Int; let uploaded: Int; let acknowledgedSeq: Int64; let clockSkewSeconds: Double? }

    func run() throws {
        guard let m = try global.fleetMembership() else { throw CLIError("this board has not joined a fleet (`warden fleet join URL --token T`)") }
        let lock: HomeLock
        do { lock = try HomeLock.acquire(home: global.wardenHome.path) } catch {
            throw CLIError("`warden run` holds this home and syncs by itself (\(error))")
        }
        defer { lock.release() }
        let db = try global.openDatabase(forReplica: true)
        let audit = try global.openAudit(ownHome: true)
        let transport: HTTPSFleetTransport
        do { transport = try m.transport() } catch { throw CLIError("\(error)") }
        let agent = FleetAgent(membership: m, transport: transport, db: db, audit: audit, home: global.wardenHome.path, wardenVersion: WardenVersion.current,
                               record: { e in _ = try? audit.append([e]) })
        let report: Report
        do {
            report = try runBlocking {
                defer { Task { await agent.shutdown() } }
                try await agent.heartbeatOnce()
                var items = 0, uploaded = 0
                while true { let n = try await agent.syncOnce(); if n == 0 { break }; items += n }
                while true { let a = try await agent.uploadOnce(); if a.accepted == 0 { break }; uploaded += a.accepted }
                try await agent.heartbeatOnce()
                let s = agent.linkStatus
                return Report(controller: m.settings.controller, appliedRevision: s.appliedRevision, items: items, uploaded: uploaded,
                              acknowledgedSeq: s.acknowledgedSeq, clockSkewSeconds: s.clockSkewSeconds)
            }
        } catch { throw CLIError("\(error)") }
        if global.json { try Output.json(report); return }
        print("replica at revision \(report.appliedRevision) (\(counted(report.items, "change")) applied); \(counted(report.uploaded, "event")) uploaded, server holds through row \(report.acknowledgedSeq)"
              + (report.clockSkewSeconds.map { String(format: "; clock %+.2f s from the server's", $0) } ?? ""))
    }
}

/// The fleet's own views come from the central database, which only the server host
/// reaches: these run `warden-server` (installed beside `warden` on that host).
struct FleetStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every controller: version, last seen, revision applied against the current one, clock skew, events not yet uploaded, doors (on the server host).",
        discussion: "Runs `warden-server status` with the same arguments."
    )
    @Argument(parsing: .captureForPassthrough, help: "Options for `warden-server status` (--home, --json).") var arguments: [String] = []
    func run() throws { try CompanionBinary.server.exec(["status"] + arguments) }
}

struct FleetVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every controller's chain as stored centrally (on the server host).",
        discussion: "Runs `warden-server verify` with the same arguments: gaps, broken links, rows changed after upload, silent controllers."
    )
    @Argument(parsing: .captureForPassthrough, help: "Options for `warden-server verify` (--home, --json, --silent-minutes).") var arguments: [String] = []
    func run() throws { try CompanionBinary.server.exec(["verify"] + arguments) }
}

/// `warden server ...`: the fleet server is its own binary, so a door controller's `warden`
/// carries no HTTP server, no PostgreSQL driver and no SwiftNIO.
struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "The fleet server (runs `warden-server`): init, run, token create, operator add, revoke, status, verify.",
        discussion: "`warden server ARGS` runs `warden-server ARGS`, found beside this binary or on PATH. See docs/fleet.md."
    )
    @Argument(parsing: .captureForPassthrough, help: "The server command and its options (`warden server --help` lists them).") var arguments: [String] = []
    func run() throws { try CompanionBinary.server.exec(arguments.isEmpty ? ["--help"] : arguments) }
}

/// A program of Warden's beside this one: the fleet server, or the lab. A door controller's
/// `warden` links neither; `warden server ...` and `warden eval ...` run them.
package struct CompanionBinary: Sendable {
    let name: String
    let how: String

    package static let server = CompanionBinary(name: "warden-server", how: "build it with `swift build -c release --product warden-server`; `make demo-fleet` does")
    static let lab = CompanionBinary(name: "warden-lab", how: "build it with `swift build -c release --product warden-lab`")

    package func exec(_ arguments: [String]) throws {
        let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var candidates = [((selfPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)]
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") { candidates.append("\(dir)/\(name)") }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CLIError("this is the separate program \(name), not found beside \(selfPath) or on PATH (\(how))")
        }
        let argv = [path] + arguments
        var cargs = argv.map { strdup($0) } + [nil]
        execv(path, &cargs)
        throw CLIError("cannot run \(path): \(String(cString: strerror(errno)))")
    }
}

/// A lab command as `warden` offers it: the same name and arguments, run by `warden-lab`.
protocol LabPassthrough: ParsableCommand {
    /// The command's words in `warden-lab` (`["pad", "eval"]`).
    static var labPath: [String] { get }
    var arguments: [String] { get }
}

extension LabPassthrough {
    func run() throws { try CompanionBinary.lab.exec(Self.labPath + arguments) }
}

struct EvalPassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Accuracy on labelled faces (runs `warden-lab eval`; `warden eval --help` shows its options).")
    static let labPath = ["eval"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}

struct CalibratePassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "calibrate", abstract: "Fit the thresholds to a target FMR on labelled faces (runs `warden-lab calibrate`).")
    static let labPath = ["calibrate"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}

struct TrainMetricPassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "train-metric", abstract: "Train a metric head on labelled faces (runs `warden-lab train-metric`).")
    static let labPath = ["train-metric"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}

struct BenchPassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks against the reference pipeline and FAISS (runs `warden-lab bench`).")
    static let labPath = ["bench"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}

struct PadEvalPassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "APCER per species and BPCER on labelled data (runs `warden-lab pad eval`).")
    static let labPath = ["pad", "eval"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}

struct PadMotionPassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "motion", abstract: "The planar-motion cue on clips against flat sheets (runs `warden-lab pad motion`).")
    static let labPath = ["pad", "motion"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}

struct PadFramingPassthrough: LabPassthrough {
    static let configuration = CommandConfiguration(commandName: "framing", abstract: "HOG's box against RetinaFace's, and BPCER under each (runs `warden-lab pad framing`).")
    static let labPath = ["pad", "framing"]
    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
}
