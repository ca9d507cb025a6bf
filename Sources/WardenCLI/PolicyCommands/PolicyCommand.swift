import CommandSupport
import ArgumentParser
import FleetProtocol
import Foundation
import WardenCore
import Policy
import Storage

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check the site policy files, and explain decisions.",
        discussion: """
        The policy is a directory of YAML files (zones, doors, schedules, holidays, groups, \
        grants, threat levels); see policies/example and docs/policy.md.

        Examples:
          warden policy check policies/example
          warden policy explain --person E1001 --door server-room --at "2026-12-01 22:00" --factors badge,face
        """,
        subcommands: [CheckPolicy.self, ExplainPolicy.self, PublishPolicy.self]
    )
}

struct CheckPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the policy files; report every problem with file, line and column.",
        discussion: "Exit status: 0 when valid, 1 otherwise."
    )
    @OptionGroup var global: AdminCommandOptions
    @Argument(help: "Policy directory (default: as --policy would choose).") var directory: String?

    struct Summary: Codable {
        let ok: Bool; let directory: String; let zones: Int; let doors: Int; let schedules: Int; let groups: Int; let grants: Int; let problems: [String]
        /// Valid, but worth a look: doors a face alone can open with liveness never required.
        var warnings: [String] = []
    }

    /// A door where a face alone can pass (face, badge|face, or a schedule override to
    /// either) and liveness is never required: a printed photo of an enrolled person can
    /// open it.
    static func spoofableDoors(_ p: SitePolicy) -> [String] {
        let engine = PolicyEngine(policy: p)
        return p.doors.values.filter { d in
            let faceAlone = ([d.factors] + d.factorSchedule.map(\.factors)).contains { $0 == .face || $0 == .badgeOrFace }
            return faceAlone && !engine.mayRequireLiveness(d)
        }.map(\.id).sorted().map { "door \($0): a face alone can open it and liveness is never required, so a photo or a screen of an enrolled person could; set liveness: required (docs/policy.md)" }
    }

    func run() throws {
        // With --server and no directory: the policy in force at the server.
        if directory == nil, try global.remoteAdmin() != nil {
            let site = try SiteSource.load(global, try PolicyOption.parse([]))
            try report(site.files, from: site.origin)
            return
        }
        let dir = directory ?? PolicyOption.defaultDirectory(global)
        do {
            try report(try PolicyLoader().load(directory: dir), from: dir)
        } catch let error as PolicyErrors {
            if global.json {
                try Output.json(Summary(ok: false, directory: dir, zones: 0, doors: 0, schedules: 0, groups: 0, grants: 0, problems: error.issues.map(\.description)))
            } else {
                FileHandle.standardError.write(Data((error.description + "\n\(counted(error.issues.count, "problem")) in \(dir)\n").utf8))
            }
            throw ExitCode(1)
        }
    }

    /// A policy that loaded: its size, and what is valid but worth a look.
    func report(_ p: SitePolicy, from origin: String) throws {
        let s = Summary(ok: true, directory: origin, zones: p.zones.count, doors: p.doors.count, schedules: p.schedules.count,
                        groups: p.groups.count, grants: p.grants.count, problems: [], warnings: Self.spoofableDoors(p))
        if global.json { try Output.json(s); return }
        print("OK: \(origin): \(s.zones) zones, \(s.doors) doors, \(s.schedules) schedules, \(s.groups) groups, \(s.grants) grants (\(p.name), \(p.timeZone.identifier))")
        for w in s.warnings { print("warning: \(w)") }
    }
}

extension Factor: ExpressibleByArgument {}

struct ExplainPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show the decision for a person at a door, and the rules behind it.",
        discussion: "Uses the person's groups from the database and the CLI grants merged with the files. --at is site local time (YYYY-MM-DD HH:MM) or ISO 8601; default now. Assumes a quiet site: no lockdown, nobody pending, nobody inside."
    )
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var policyOption: PolicyOption
    @Option(help: "Warden id, external id or exact name.") var person: String
    @Option(help: "Door id.") var door: String
    @Option(help: "When (site local time, YYYY-MM-DD HH:MM).") var at: String?
    @Option(help: "Factors that succeeded, comma-separated: badge, face.") var factors: String = "badge,face"
    @Option(name: .customLong("threat-level"), help: "Assume this threat level.") var threatLevel = 0
    @Option(help: ArgumentHelp("What presentation-attack detection said of the face: live, attack, unsure, unavailable or not_checked.",
                               discussion: "Default: live when face is among --factors, else not_checked."))
    var liveness: String?

    struct Result: Codable {
        let allow: Bool; let reasons: [String]; let rule: String; let doorAction: String; let explanation: [String]
        let person: String; let door: String; let at: String
    }

    func run() throws {
        let site = try SiteSource.load(global, policyOption)
        let policy = site.policy()
        let p = try site.findPerson(person)
        let groups = site.groups(of: p.id!)
        let when = try at.map { try parseLocal($0, policy.timeZone) } ?? Date()
        var ok = Set<Factor>()
        for f in factors.split(separator: ",") where !f.isEmpty {
            guard let factor = Factor(rawValue: f.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("unknown factor '\(f)'; use badge, face") }
            ok.insert(factor)
        }
        let fact: LivenessFact
        if let liveness {
            guard let f = LivenessFact(rawValue: liveness) else { throw ValidationError("unknown --liveness '\(liveness)'; use live, attack, unsure, unavailable or not_checked") }
            fact = f
        } else { fact = ok.contains(.face) ? .live : .notChecked }
        var state = SiteState.everyDoorShut(policy)
        state.threatLevel = threatLevel
        let d = PolicyEngine(policy: policy).decide(AccessRequest(door: door, time: when, person: p.facts(groups: groups),
                                                                  badge: ok.contains(.badge) ? .valid : .none, succeeded: ok, liveness: fact), state: state)
        let local = formatLocal(when, policy.timeZone)
        let r = Result(allow: d.allow, reasons: d.reasons.map(\.rawValue), rule: d.rule, doorAction: d.action.summary, explanation: d.explanation,
                       person: "#\(p.id!) \(p.displayName)", door: door, at: local)
        if global.json { try Output.json(r); return }
        print("\(d.allow ? "ALLOW" : "DENY"): #\(p.id!) \(p.displayName) at door \(door), \(local) (\(policy.timeZone.identifier)), factors \(ok.map(\.rawValue).sorted().joined(separator: "+"))")
        if !d.reasons.isEmpty { print("reasons: \(d.reasons.map(\.rawValue).joined(separator: ", "))") }
        print("decided by: \(d.rule); door: \(d.action.summary)")
        for (i, step) in d.explanation.enumerated() { print("  \(i + 1). \(step)") }
    }
}

func parseLocal(_ s: String, _ tz: TimeZone) throws -> Date {
    if let d = SiteLocalTime.parse(s, in: tz) { return d }
    if let d = StrictDate.parse(s), s.count > 10 { return d }
    throw ValidationError("'\(s)' is not a time (YYYY-MM-DD HH:MM in the site's time zone, or ISO 8601)")
}

func formatLocal(_ d: Date, _ tz: TimeZone) -> String { SiteLocalTime.format(d, in: tz) }

/// `warden policy publish DIR --server URL`: a new policy version for the whole fleet.
struct PublishPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a policy directory to the fleet server as its new version (every board takes it within seconds).",
        discussion: "Checked here and again at the server (the same loader and the same located errors); a policy that does not load is refused and the running one kept everywhere. Needs --server or WARDEN_SERVER."
    )
    @OptionGroup var global: AdminCommandOptions
    @Argument(help: "The policy directory (its *.yaml files).") var directory: String

    func run() throws {
        guard let remote = try global.remoteAdmin() else { throw CLIError("publish sends the policy to a fleet server: give --server URL (or WARDEN_SERVER)") }
        do { _ = try PolicyLoader().load(directory: directory) } catch { throw CLIError("not published: " + error.issues.map(\.description).joined(separator: "; ")) }
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            files[name] = try String(contentsOfFile: (directory as NSString).appendingPathComponent(name), encoding: .utf8)
        }
        let v = try remote.post(AdminVersion.self, AdminPath.policy, AdminConfiguration(files: files))
        if global.json { try Output.json(["version": v.version]); return }
        print("published \(counted(files.count, "policy file")) as version \(v.version) at \(remote.server)")
    }
}
