import Board
import CommandSupport
import ArgumentParser
import FleetProtocol
import Audit
import FleetLink
import Foundation
import Storage
import WardenCore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify, export, follow and summarise the tamper-evident audit log.",
        discussion: """
        Every access decision, door event, system event and admin change is a row in \
        <home>/audit.sqlite, hash-chained to the row before it. `verify` recomputes the chain \
        and names the first row that was edited, deleted, reordered or cut off.

        Examples:
          warden audit verify
          warden audit export --from 2026-11-01 --door lobby --format csv > lobby.csv
          warden audit stats --json
          warden audit prune --before 2025-01-01 --archive /backup/audit-2024.jsonl
        """,
        subcommands: [VerifyAudit.self, ExportAudit.self, TailAudit.self, StatsAudit.self, PruneAudit.self, AcknowledgeAudit.self]
    )
}

extension ExportFormat: ExpressibleByArgument {}

/// Filters shared by export, tail and stats.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: "From this time (YYYY-MM-DD or ISO 8601, UTC), inclusive.") var from: String?
    @Option(help: "Up to this time, exclusive.") var to: String?
    @Option(help: "Only this door.") var door: String?
    @Option(help: "Only this person (Warden id).") var person: Int64?
    @Option(help: "Only decisions with this result: granted or denied.") var result: String?

    func validate() throws {
        if let result, !["granted", "denied"].contains(result) { throw ValidationError("--result must be granted or denied") }
    }

    func filter() throws -> AuditFilter {
        AuditFilter(from: try from.map { try parseDate($0, option: "--from") }, to: try to.map { try parseDate($0, option: "--to") },
                    door: door, personID: person, result: result)
    }
}

struct VerifyAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the hash chain and check it against its head and the identity database.",
        discussion: """
        Reports OK with the count, or the first broken row: a row edited, deleted, reordered, \
        cut off the end, a log wiped or replaced (its head file audit.head no longer matches), \
        or a missing or unreadable head. Then checks that every change in the identity \
        database names the audit row that records it, and that every person, badge, template, \
        grant and membership comes from a recorded change. Lists discontinuities an operator \
        acknowledged. Exit status: 0 when all of that holds, 1 when it does not.
        """
    )
    @OptionGroup var global: AdminCommandOptions

    @Option(help: "With --server: a controller not heard from for longer than this is reported.") var silentMinutes: Double = 60

    struct Report: Codable { let chain: ChainReport; let changes: ChangeReconciliation?; let ok: Bool }

    func run() throws {
        if let remote = try global.remoteAdmin() { try verifyAtServer(remote); return }
        let store = try global.openAudit(readOnly: true)
        let chain = try audited(home: global.wardenHome) { try store.verify() }
        var changes: ChangeReconciliation? = nil
        if FileManager.default.fileExists(atPath: global.wardenHome.file(WardenDatabase.fileName)) {
            let db = try global.openDatabase(readOnly: true)
            changes = try audited(home: global.wardenHome) { try ChangeReconciliation.run(db: db, audit: store) }
        }
        let ok = chain.ok && (changes?.ok ?? true)
        if global.json { try Output.json(Report(chain: chain, changes: changes, ok: ok)) } else {
            if chain.ok {
                print("OK: \(chain.count) events, chain intact" + (chain.anchorSeq > 0 ? " (from row \(chain.anchorSeq + 1), after pruning)" : ""))
            } else {
                print("BROKEN at row \(chain.firstBrokenSeq!): \(chain.problem!)")
                print("\(chain.count) events before it verified.")
            }
            for a in chain.acknowledged { print("acknowledged discontinuity: \(a)") }
            if let c = changes {
                if c.unaccounted.isEmpty {
                    print("identity database: \(counted(c.checkedChanges, "change")), each recorded in the log" + (c.legacyChanges > 0 ? " (\(c.legacyChanges) from before changes were linked)" : "")
                          + (c.acknowledgedLost > 0 ? " (\(c.acknowledgedLost) whose events were lost in an acknowledged discontinuity)" : ""))
                } else {
                    print("identity database: \(counted(c.unaccounted.count, "row")) that no audit event accounts for:")
                    for u in c.unaccounted.prefix(50) { print("  - \(u)") }
                    if c.unaccounted.count > 50 { print("  ... and \(c.unaccounted.count - 50) more (--json lists all)") }
                }
                for o in c.orphanedEvents.prefix(20) { print("note: \(o)") }
            }
        }
        if !ok { throw ExitCode(1) }
    }
}

struct AcknowledgeAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acknowledge",
        abstract: "Record that a cut-off, wiped or replaced audit log was looked into, so Warden may run again.",
        discussion: """
        When the log no longer holds the row its head file recorded (rows cut off its end, the \
        file wiped or replaced), or the head itself is missing or unreadable, Warden refuses to \
        append: `warden run` does not start and admin changes are refused. Restore audit.sqlite \
        and audit.head from a backup if you can. If you cannot, this command appends an event \
        naming what was found, who acknowledged it and why; the chain carries on from there, \
        and `warden audit verify` lists the acknowledgement from then on.

        Example:
          warden audit acknowledge --operator alice --reason "SD card replaced after corruption; old log lost"
        """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption
    @Option(help: "Why the loss is accepted (recorded in the log).") var reason: String

    func validate() throws {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
        if let p = DisplayText.problem(reason, as: "the reason", maxLength: 1000) { throw ValidationError(p) }
    }

    func run() throws {
        let store = try global.openAudit()
        let e = try audited(home: global.wardenHome) { try store.acknowledgeDiscontinuity(operator: op.resolved.name, reason: reason) }
        if global.json { try Output.json(["seq": e.seq]); return }
        print("recorded at row \(e.seq): \(e.detail?["problem"] ?? "")")
        print("Warden will append to this log again; `warden audit verify` lists the acknowledgement.")
    }
}

struct ExportAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write events as CSV (RFC 4180) or JSON Lines to a file or stdout.",
        discussion: "The CSV opens cleanly in a spreadsheet; the JSONL schema is in docs/audit.md. Exports never contain face templates."
    )
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var filters: AuditFilterOptions
    @Option(help: "csv (the default) or jsonl; --json alone means jsonl.") var format: ExportFormat?
    @Option(name: .shortAndLong, help: "Write to this file instead of stdout.") var output: String?

    @Option(help: "Only this controller's events (with --server: the fleet's central log).") var controller: String?

    /// What is written: --format, else JSON Lines under --json (it printed CSV), else CSV.
    func chosenFormat() throws -> ExportFormat {
        if global.json, format == .csv { throw CLIError("--json writes JSON Lines; leave out --format csv, or leave out --json for CSV") }
        return format ?? (global.json ? .jsonl : .csv)
    }

    func run() throws {
        let format = try chosenFormat()
        if let remote = try global.remoteAdmin() { try exportFromServer(remote, format: format); return }
        if controller != nil { throw CLIError("--controller picks from the fleet's central log: give --server URL too") }
        let store = try global.openAudit(readOnly: true)
        let filter = try filters.filter()
        if let output {
            // Whole or not at all: a full disk leaves no partial export behind.
            let file = try audited { try AtomicFile(path: output, replace: true) }
            let n = try audited {
                try AuditExporter.export(store, filter: filter, format: format) { line in try file.write(line) }
            }
            try audited { try file.commit() }
            Output.note("exported \(n) events to \(output)")
            return
        }
        let stdout = DescriptorWriter(fd: STDOUT_FILENO, name: "standard output")
        try audited {
            _ = try AuditExporter.export(store, filter: filter, format: format) { line in try stdout.write(line) }
            try stdout.flush()
        }
    }
}

struct TailAudit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Print the latest events and follow new ones as they are written (Ctrl-C to stop).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: AuditFilterOptions
    @Option(name: [.customShort("n"), .customShort("l"), .long], help: "How many recent events to show first (-n, as tail takes it).") var lines = 10
    @Flag(help: "Print the recent events and exit instead of following.") var noFollow = false

    func run() throws {
        let store = try global.openAudit(readOnly: true)
        var last = max(0, try store.lastSeq() - Int64(lines))
        let filter = try filters.filter()
        while true {
            try store.forEachRow(after: last, where: filter) { row, e in
                last = row.seq
                if global.json { print(String(row.payload)) } else { print(Self.line(e)) }
            }
            fflush(nil)  // all streams: stdout is not concurrency-safe to name in Swift 6
            if noFollow { return }
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    static func line(_ e: AuditEvent) -> String {
        var parts = ["#\(e.seq)", e.siteLocalTime ?? ISO8601DateFormatter().string(from: e.at), e.type]
        if let d = e.door { parts.append("door=\(d)") }
        if let p = e.personName ?? e.personID.map({ "#\($0)" }) { parts.append("person=\(p)") }
        if let b = e.badge { parts.append("badge=\(b)") }
        if let r = e.result { parts.append(r.uppercased()) }
        if let rs = e.reasons, !rs.isEmpty { parts.append("reasons=" + rs.joined(separator: ",")) }
        if let f = e.face, let d = f.distance { parts.append(String(format: "face %.3f/%.3f", d, f.threshold)) }
        if let a = e.doorAction { parts.append("door:" + a) }
        if let o = e.operator { parts.append("by \(o)") }
        if let d = e.detail, !d.isEmpty { parts.append(d.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        return DisplayText.escapingControls(parts.joined(separator: "  "))
    }
}

struct StatsAudit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Per door and day: grants, denials by reason, alarms.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: AuditFilterOptions

    func run() throws {
        let stats = try AuditStats.compute(try global.openAudit(readOnly: true), filter: try filters.filter())
        if global.json { try Output.json(stats); return }
        if stats.buckets.isEmpty { print("no door events in range"); return }
        print("day         door              granted  denied  alarms   denials by reason")
        for b in stats.buckets {
            print(pad(b.day, 12) + pad(b.door, 18) + pad(String(b.granted), 9) + pad(String(b.denied), 8)
                  + pad(String(b.alarms.values.reduce(0, +)), 9)
                  + b.deniedByReason.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
    }
}

struct PruneAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Archive events before a date to a JSONL file, then remove them from the log.",
        discussion: "The archive is written and synced before anything is deleted. The hash of the last pruned row is kept as the chain's anchor, so `audit verify` still verifies what remains, and the archive can be verified on its own."
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "Prune events before this date (YYYY-MM-DD, UTC).") var before: String
    @Option(help: "Archive file to write (JSONL with hashes).") var archive: String
    @OptionGroup var op: OperatorOption

    struct Result: Codable { let pruned: Int; let anchorSeq: Int64; let archive: String; let keptAfterServerMark: Int64? }

    func run() throws {
        let store = try global.openAudit()
        guard !FileManager.default.fileExists(atPath: archive) else { throw CLIError("\(archive) exists; choose a new archive file") }
        let op = self.op.resolved.name
        // A fleet controller holds its rows for the server: none above the server's
        // acknowledged mark is pruned, whatever its date.
        let mark: Int64? = try global.fleetMembership().map { $0.acknowledgedSeq() }
        var detail = ["before": before, "archive": archive]
        if let mark { detail["kept_after_server_mark"] = String(mark) }
        let r = try audited { try store.prune(before: try parseDate(before, option: "--before"), archive: archive, keepingAfter: mark ?? .max) { pruned, anchor in
            AuditEvent.admin("admin.audit_prune", operator: op, subject: "audit",
                             detail: detail.merging(["pruned": String(pruned), "anchor_seq": String(anchor)]) { a, _ in a })
        } }
        if global.json { try Output.json(Result(pruned: r.pruned, anchorSeq: r.anchorSeq, archive: archive, keptAfterServerMark: mark)); return }
        print(r.pruned == 0 ? "nothing before \(before) to prune" : "archived and pruned \(r.pruned) events (through row \(r.anchorSeq)) to \(archive)")
        if let mark, (try store.lastSeq()) > mark {
            print("rows after \(mark) are kept whatever their date: the fleet server has not acknowledged them yet")
        }
    }
}

extension ExportAudit {
    /// Every controller's rows as the server stores them (plus the server's own chain),
    /// filtered, each line naming its controller.
    func exportFromServer(_ remote: RemoteAdmin, format: ExportFormat) throws {
        let f = try filters.filter()
        var q: [String: String] = ["format": format.rawValue]
        if let controller { q["controller"] = controller }
        if let d = f.door { q["door"] = d }
        if let p = f.personID { q["person"] = String(p) }
        if let t = f.from { q["from"] = String(t.timeIntervalSince1970) }
        if let t = f.to { q["to"] = String(t.timeIntervalSince1970) }
        let t = remote.transport, query = q
        let data = try RemoteAdmin.mapped { try await t.get(AdminPath.auditExport, query: query, timeout: .seconds(600)) }
        let text = String(decoding: data, as: UTF8.self)
        if let output {
            let file = try audited { try AtomicFile(path: output, replace: true) }
            try audited { try file.write(text); try file.commit() }
            Output.note("exported \(text.split(separator: "\n").count - (format == .csv ? 1 : 0)) events from \(remote.server) to \(output)")
            return
        }
        let stdout = DescriptorWriter(fd: STDOUT_FILENO, name: "standard output")
        try audited { try stdout.write(text); try stdout.flush() }
    }
}

extension VerifyAudit {
    /// `audit verify --server URL`: every controller's chain as stored centrally.
    func verifyAtServer(_ remote: RemoteAdmin) throws {
        let reports = try remote.get([CentralChainReport].self, AdminPath.auditVerify + "?silent_seconds=\(Int(silentMinutes * 60))")
        try CentralChainReport.show(reports, json: global.json)
    }
}
