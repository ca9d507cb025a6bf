import CommandSupport
import ArgumentParser
import FleetProtocol
import Foundation
import WardenCore
import Policy
import Storage

struct ZoneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "zone", abstract: "List zones.", subcommands: [ListZones.self])
}

struct ListZones: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the zones, nested, with their sensitivity and rules.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var policyOption: PolicyOption

    struct Row: Codable { let id: String; let name: String; let parent: String?; let sensitivity: Int; let rules: [String] }

    func run() throws {
        let p = try SiteSource.load(global, policyOption).files
        func rules(_ z: Zone) -> [String] {
            var r: [String] = []
            if let t = z.rules.twoPerson { r.append("two-person \(Int(t.window))s" + (t.schedule.map { " during \($0)" } ?? "")) }
            if let a = z.rules.antiPassback { r.append("anti-passback \(a.mode.rawValue)") }
            if let e = z.rules.escort { r.append("escort: \(e.visitorGroups.joined(separator: ",")) by \(e.escortGroups.joined(separator: ","))") }
            return r
        }
        let rows = p.zones.values.sorted { p.lineage(of: $0.id).reversed().joined(separator: "/") < p.lineage(of: $1.id).reversed().joined(separator: "/") }
            .map { Row(id: $0.id, name: $0.name, parent: $0.parent, sensitivity: $0.sensitivity, rules: rules($0)) }
        if global.json { try Output.json(rows); return }
        for r in rows {
            let depth = p.lineage(of: r.id).count - 1
            print(String(repeating: "  ", count: depth) + "\(r.id) (\(r.name)), sensitivity \(r.sensitivity)" + (r.rules.isEmpty ? "" : "; " + r.rules.joined(separator: "; ")))
        }
    }
}

struct DoorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "door", abstract: "List doors.", subcommands: [ListDoors.self])
}

struct ListDoors: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List doors with their zone, factors and timings.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var policyOption: PolicyOption

    struct Row: Codable {
        let id: String; let name: String; let into: String; let from: String?; let factors: String; let factorSchedule: [String]
        let strikeSeconds: Double; let heldOpenSeconds: Double; let failMode: String; let unlockSchedule: String?; let hardware: [String: String]
        /// What the door takes from remote commands: release, lockdown (empty: nothing).
        let remote: [String]; let remoteSchedule: String?
    }

    func run() throws {
        let p = try SiteSource.load(global, policyOption).files
        let rows = p.doors.values.sorted { $0.id < $1.id }.map {
            Row(id: $0.id, name: $0.name, into: $0.into, from: $0.from, factors: $0.factors.rawValue,
                factorSchedule: $0.factorSchedule.map { "\($0.schedule): \($0.factors.rawValue)" }, strikeSeconds: $0.strikeTime,
                heldOpenSeconds: $0.heldOpenTime, failMode: $0.failMode.rawValue, unlockSchedule: $0.unlockSchedule, hardware: $0.hardware,
                remote: [$0.remote.release ? "release" : nil, $0.remote.lockdown ? "lockdown" : nil].compactMap { $0 }, remoteSchedule: $0.remote.schedule)
        }
        if global.json { try Output.json(rows); return }
        for r in rows {
            var line = "\(r.id) (\(r.name)): \(r.from ?? "outside") -> \(r.into); \(r.factors)"
            if !r.factorSchedule.isEmpty { line += " (" + r.factorSchedule.joined(separator: "; ") + ")" }
            line += "; strike \(Int(r.strikeSeconds))s, held-open \(Int(r.heldOpenSeconds))s, fail-\(r.failMode)"
            if let u = r.unlockSchedule { line += "; free access during \(u)" }
            if !r.remote.isEmpty { line += "; remote " + r.remote.joined(separator: ", ") + (r.remoteSchedule.map { " (release during \($0))" } ?? "") }
            print(line)
        }
    }
}

struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Create groups and manage who is in them.",
        discussion: "Groups named in the policy files exist already; `create` adds others. Examples:\n  warden group add E1001 it-admins\n  warden group list",
        subcommands: [CreateGroup.self, ListGroups.self, AddToGroup.self, RemoveFromGroup.self]
    )
}

struct CreateGroup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a group.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Group name.") var name: String
    func run() throws {
        if let remote = try global.remoteAdmin() {
            _ = try remote.post(AdminGroupName.self, AdminPath.groups, AdminGroupName(name: name))
            if global.json { try Output.json(["group": name]) } else { print("created group \(name) at \(remote.server)") }
            return
        }
        let db = try global.openDatabase()
        _ = try storage { try db.access.createGroup(name, by: op.resolved) }
        if global.json { try Output.json(["group": name]) } else { print("created group \(name)") }
    }
}

struct ListGroups: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List groups (from the policy files and the database) with their members.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var policyOption: PolicyOption
    struct Row: Codable { let name: String; let inPolicyFiles: Bool; let members: [Int64] }
    func run() throws {
        let site = try SiteSource.load(global, policyOption)
        let names = Set(site.files.groups.keys).union(site.groupMembers.keys).sorted()
        let rows = names.map { Row(name: $0, inPolicyFiles: site.files.groups[$0] != nil, members: site.groupMembers[$0] ?? []) }
        if global.json { try Output.json(rows); return }
        for r in rows { print("\(pad(r.name, 16)) \(counted(r.members.count, "member"))\(r.members.isEmpty ? "" : ": " + r.members.map { "#\($0)" }.joined(separator: " "))\(r.inPolicyFiles ? "" : "  (database only)")") }
    }
}

struct AddToGroup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a person to a group.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @OptionGroup var policyOption: PolicyOption
    @Argument(help: "Person.") var person: String
    @Argument(help: "Group.") var group: String
    func run() throws {
        if let remote = try global.remoteAdmin() {
            let p = try remote.post(PersonRecordWire.self, AdminPath.groupMembers, AdminGroupMember(person: person, group: group, add: true))
            if global.json { try Output.json(["person": p.id]) } else { print("#\(p.id) \(p.displayName) is now in \(group) (at \(remote.server); every board within seconds)") }
            return
        }
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        let known = Set(try policyOption.load(global).groups.keys).union(try db.access.groups().map(\.name))
        guard known.contains(group) else { throw CLIError("no group '\(group)'; known: \(known.sorted().joined(separator: ", ")) (or `warden group create \(group)`)") }
        try storage { try db.access.addMember(p.id!, to: group, by: op.resolved) }
        if global.json { try Output.json(["person": p.id!]) } else { print("#\(p.id!) \(p.displayName) is now in \(group)") }
    }
}

struct RemoveFromGroup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a person from a group.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Person.") var person: String
    @Argument(help: "Group.") var group: String
    func run() throws {
        if let remote = try global.remoteAdmin() {
            let p = try remote.post(PersonRecordWire.self, AdminPath.groupMembers, AdminGroupMember(person: person, group: group, add: false))
            if global.json { try Output.json(["person": p.id]) } else { print("#\(p.id) \(p.displayName) is no longer in \(group) (at \(remote.server))") }
            return
        }
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        try storage { try db.access.removeMember(p.id!, from: group, by: op.resolved) }
        if global.json { try Output.json(["person": p.id!]) } else { print("#\(p.id!) \(p.displayName) is no longer in \(group)") }
    }
}

struct GrantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Grant a person or group access to a zone, or list grants.",
        discussion: """
        Examples:
          warden grant add E1001 server-room --schedule business-hours --until 2027-06-30
          warden grant add group:contractors office-floor
          warden grant list
          warden revoke 3
        A grant to a zone covers its sub-zones up to the zone's own sensitivity.
        """,
        subcommands: [AddGrant.self, ListGrants.self],
        defaultSubcommand: AddGrant.self
    )
}

struct AddGrant: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Grant access.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @OptionGroup var policyOption: PolicyOption
    @Argument(help: "A person, or group:NAME.") var subject: String
    @Argument(help: "Zone id.") var zone: String
    @Option(help: "Only during this schedule.") var schedule: String?
    @Option(help: "Until this date (YYYY-MM-DD, site local midnight).") var until: String?

    func run() throws {
        if let remote = try global.remoteAdmin() {
            let end = try until.map { try parseDate($0, option: "--until") }
            let g = try remote.post(GrantRecordWire.self, AdminPath.grants, AdminGrant(person: subject.hasPrefix("group:") ? nil : subject,
                                                                                      group: subject.hasPrefix("group:") ? String(subject.dropFirst(6)) : nil,
                                                                                      zone: zone, schedule: schedule, until: end))
            if global.json { try Output.json(["grant": g.id]); return }
            print("\(Grant.ruleID(stored: g.id)) at \(remote.server): \(subject) -> \(zone)\(schedule.map { " during \($0)" } ?? "")\(until.map { " until \($0)" } ?? "")")
            return
        }
        let db = try global.openDatabase()
        let p = try policyOption.load(global)
        if let problem = p.grantProblem(zone: zone, schedule: schedule) { throw CLIError(problem) }
        let end = try until.map { try parseLocal($0, p.timeZone) }
        var grant: AccessGrant
        if subject.hasPrefix("group:") {
            grant = AccessGrant(groupName: String(subject.dropFirst(6)), zone: zone, schedule: schedule, until: end, createdBy: op.resolved.name)
        } else {
            let person = try storage { try db.people.find(subject) }
            grant = AccessGrant(personID: person.id!, zone: zone, schedule: schedule, until: end, createdBy: op.resolved.name)
        }
        grant = try storage { try db.access.addGrant(grant, by: op.resolved) }
        if global.json { try Output.json(["grant": grant.id!]); return }
        print("\(Grant.ruleID(stored: grant.id!)): \(subject) -> \(zone)\(schedule.map { " during \($0)" } ?? "")\(until.map { " until \($0)" } ?? "")")
    }
}

struct ListGrants: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List grants from the policy files and the CLI.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var policyOption: PolicyOption
    struct Row: Codable { let id: String; let subject: String; let zone: String; let schedule: String?; let until: Date? }
    func run() throws {
        let p = try SiteSource.load(global, policyOption).policy()
        let rows = p.grants.map { Row(id: $0.id, subject: $0.subject.description, zone: $0.zone, schedule: $0.schedule, until: $0.until) }
        if global.json { try Output.json(rows); return }
        for r in rows { print("\(pad(r.id, 22)) \(pad(r.subject, 18)) -> \(pad(r.zone, 14)) \(r.schedule ?? "always")\(r.until.map { " until \(formatLocal($0, p.timeZone))" } ?? "")") }
    }
}

struct RevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a grant made with `warden grant` (its id from `warden grant list`, grant-N).")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "The grant's id: grant-N or N (cli-N, its earlier name, is taken too).") var grant: String
    func run() throws {
        guard let id = Grant.storedID(grant) else {
            throw CLIError("'\(grant)' is not a stored grant's id (grant-N); grants in the policy files are removed by editing the files")
        }
        if let remote = try global.remoteAdmin() {
            _ = try remote.post(AdminGrantRef.self, AdminPath.grantRevoke, AdminGrantRef(id: id))
            if global.json { try Output.json(["revoked": id]) } else { print("revoked \(Grant.ruleID(stored: id)) at \(remote.server); every board within seconds") }
            return
        }
        let db = try global.openDatabase()
        let g = try storage { try db.access.revokeGrant(id, by: op.resolved) }
        if global.json { try Output.json(["revoked": id]) } else { print("revoked \(Grant.ruleID(stored: id)) (\(g.zone))") }
    }
}
