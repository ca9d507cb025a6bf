import ArgumentParser
import Audit
import Controller
import FleetLink
import FleetProtocol
import FleetServer
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

extension GlobalOptions {
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
        let audit = try global.openAudit()
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
        print("replica at revision \(report.appliedRevision) (\(report.items) change(s) applied); \(report.uploaded) event(s) uploaded, server holds through row \(report.acknowledgedSeq)"
              + (report.clockSkewSeconds.map { String(format: "; clock %+.2f s from the server's", $0) } ?? ""))
    }
}

struct FleetStatusCommand: ParsableCommand {
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

struct FleetVerifyCommand: ParsableCommand {
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
        let ok = reports.allSatisfy { $0.problems.isEmpty }
        if global.json {
            struct R: Codable { let ok: Bool; let controllers: [CentralChainReport] }
            try Output.json(R(ok: ok, controllers: reports))
        } else {
            for r in reports {
                print("\(r.problems.isEmpty ? "OK    " : "BROKEN") \(r.controller): \(r.rows) rows through \(r.highWater)")
                for p in r.problems { print("         \(p)") }
            }
        }
        if !ok { throw ExitCode(1) }
    }
}
