import ArgumentParser
import Audit
import Foundation

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
        subcommands: [VerifyAudit.self, ExportAudit.self, TailAudit.self, StatsAudit.self, PruneAudit.self]
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
        abstract: "Recompute the hash chain; report OK with the count or the first broken row.",
        discussion: "Exit status: 0 when the chain verifies, 1 when it does not."
    )
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let report = try global.openAudit().verify()
        if global.json { try Output.json(report) } else if report.ok {
            print("OK: \(report.count) events, chain intact" + (report.anchorSeq > 0 ? " (from row \(report.anchorSeq + 1), after pruning)" : ""))
        } else {
            print("BROKEN at row \(report.firstBrokenSeq!): \(report.problem!)")
            print("\(report.count) events before it verified.")
        }
        if !report.ok { throw ExitCode(1) }
    }
}

struct ExportAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write events as CSV (RFC 4180) or JSON Lines to a file or stdout.",
        discussion: "The CSV opens cleanly in a spreadsheet; the JSONL schema is in docs/audit.md. Exports never contain face templates."
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: AuditFilterOptions
    @Option(help: "csv or jsonl.") var format: ExportFormat = .csv
    @Option(name: .shortAndLong, help: "Write to this file instead of stdout.") var output: String?

    func run() throws {
        let store = try global.openAudit()
        var handle = FileHandle.standardOutput
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let h = FileHandle(forWritingAtPath: output) else { throw CLIError("cannot write \(output)") }
            handle = h
        }
        var buffer = Data()
        let n = try AuditExporter.export(store, filter: try filters.filter(), format: format) { line in
            buffer.append(contentsOf: line.utf8)
            if buffer.count > 1 << 16 { handle.write(buffer); buffer.removeAll(keepingCapacity: true) }
        }
        handle.write(buffer)
        if output != nil {
            try handle.close()
            FileHandle.standardError.write(Data("exported \(n) events to \(output!)\n".utf8))
        }
    }
}

struct TailAudit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Print the latest events and follow new ones as they are written (Ctrl-C to stop).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: AuditFilterOptions
    @Option(name: .shortAndLong, help: "How many recent events to show first.") var lines = 10
    @Flag(help: "Print the recent events and exit instead of following.") var noFollow = false

    func run() throws {
        let store = try global.openAudit()
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
        return parts.joined(separator: "  ")
    }
}

struct StatsAudit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Per door and day: grants, denials by reason, alarms.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: AuditFilterOptions

    func run() throws {
        let stats = try AuditStats.compute(try global.openAudit(), filter: try filters.filter())
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
    @Option(name: .customLong("operator"), help: "Who is pruning (default: the OS user).") var operatorName: String?

    struct Result: Codable { let pruned: Int; let anchorSeq: Int64; let archive: String }

    func run() throws {
        let store = try global.openAudit()
        guard !FileManager.default.fileExists(atPath: archive) else { throw CLIError("\(archive) exists; choose a new archive file") }
        let r = try store.prune(before: try parseDate(before, option: "--before"), archive: archive)
        let op = WardenCoreOperator.resolve(operatorName)
        try store.append([AuditEvent.admin("admin.audit_prune", operator: op, subject: "audit",
                                           detail: ["before": before, "pruned": String(r.pruned), "anchor_seq": String(r.anchorSeq), "archive": archive])])
        if global.json { try Output.json(Result(pruned: r.pruned, anchorSeq: r.anchorSeq, archive: archive)); return }
        print(r.pruned == 0 ? "nothing before \(before)" : "archived and pruned \(r.pruned) events (through row \(r.anchorSeq)) to \(archive)")
    }
}
