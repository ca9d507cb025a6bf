import CommandSupport
import ArgumentParser
import FleetProtocol
import DoorIO
import Foundation
import Storage
import WardenCore

struct BadgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "badge",
        abstract: "Issue, revoke and list access cards.",
        discussion: """
        A badge is written FACILITY:NUMBER as the card's reader reports it, e.g. 12:34567, \
        with --format naming the card layout (H10301 26-bit by default).

        Examples:
          warden badge issue E1001 12:34567
          warden badge revoke 12:34567
          warden badge wiegand 12:34567
        """,
        subcommands: [IssueBadge.self, RevokeBadge.self, ListBadges.self, WiegandBits.self]
    )
}

extension BadgeFormat: ExpressibleByArgument {}

struct BadgeRecord: Codable {
    let credential: String; let format: String; let status: String; let personID: Int64; let issuedAt: Date; let revokedAt: Date?
    init(_ b: Badge) {
        credential = b.credentialText; format = b.format; status = b.status.rawValue; personID = b.personId
        issuedAt = b.issuedAt; revokedAt = b.revokedAt
    }
}

func parseBadge(_ text: String, format: BadgeFormat) throws -> BadgeCredential {
    do { return try BadgeCredential(parsing: text, format: format) } catch { throw CLIError(error.description) }
}

struct IssueBadge: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "issue", abstract: "Give a person a badge.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Warden id, external id or exact name.") var person: String
    @Argument(help: "FACILITY:NUMBER") var badge: String
    @Option(help: "Card format: H10301, H10304, C1000-35, 34BIT.") var format: BadgeFormat = .h10301

    func run() throws {
        let credential = try parseBadge(badge, format: format)
        if let remote = try global.remoteAdmin() {
            let b = Badge(wire: try remote.post(BadgeRecordWire.self, AdminPath.badgeIssue, AdminBadge(person: person, credential: credential.description, format: format.rawValue)))
            if global.json { try Output.json(BadgeRecord(b)); return }
            print("issued badge \(credential) (\(format.rawValue)) to #\(b.personId) at \(remote.server)")
            return
        }
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        let b = try storage { try db.badges.issue(credential, to: p.id!, by: op.resolved) }
        if global.json { try Output.json(BadgeRecord(b)); return }
        print("issued badge \(credential) (\(format.rawValue)) to #\(p.id!) \(p.displayName)")
    }
}

struct RevokeBadge: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a badge (it is kept, marked revoked, so its use is reported as such).")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "FACILITY:NUMBER") var badge: String
    @Option(help: "Card format.") var format: BadgeFormat = .h10301

    func run() throws {
        let credential = try parseBadge(badge, format: format)
        if let remote = try global.remoteAdmin() {
            let b = Badge(wire: try remote.post(BadgeRecordWire.self, AdminPath.badgeRevoke, AdminBadge(person: nil, credential: credential.description, format: format.rawValue)))
            if global.json { try Output.json(BadgeRecord(b)); return }
            print("revoked badge \(credential) of person #\(b.personId) at \(remote.server); every connected board within seconds")
            return
        }
        let db = try global.openDatabase()
        let b = try storage { try db.badges.revoke(credential, by: op.resolved) }
        if global.json { try Output.json(BadgeRecord(b)); return }
        print("revoked badge \(credential) of person #\(b.personId)")
    }
}

struct ListBadges: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List badges.")
    @OptionGroup var global: AdminCommandOptions
    @Option(help: "Only this person's badges.") var person: String?

    func run() throws {
        let badges: [Badge]
        if let remote = try global.remoteAdmin() {
            badges = try remote.get([BadgeRecordWire].self, AdminPath.badges, query: person.map { ["person": $0] } ?? [:]).map { Badge(wire: $0) }
        } else {
            let db = try global.openDatabase(readOnly: true)
            let pid = try person.map { ref in try storage { try db.people.find(ref).id! } }
            badges = try storage { try db.badges.list(personID: pid) }
        }
        if global.json { try Output.json(badges.map(BadgeRecord.init)); return }
        if badges.isEmpty { print("no badges"); return }
        for b in badges { print("\(pad(b.credentialText, 14)) \(pad(b.format, 9)) \(pad(b.status.rawValue, 8)) person #\(b.personId)") }
    }
}

struct WiegandBits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wiegand",
        abstract: "Show the Wiegand frame a reader sends for a badge.",
        discussion: """
        Prints the bits, first bit first (a pulse on D1 is a 1, on D0 a 0), with the parity \
        bits computed. For bench-testing a reader input with a pulse generator, and for the \
        hardware-in-the-loop harness, which clocks these bits into gpio-sim.

        Example:
          warden badge wiegand 12:34567 --format H10301
        """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "FACILITY:NUMBER") var badge: String
    @Option(help: "Card format: H10301, H10304, C1000-35, 34BIT.") var format: BadgeFormat = .h10301

    struct Frame: Codable { let badge: String; let format: String; let length: Int; let bits: String }

    func run() throws {
        let credential = try parseBadge(badge, format: format)
        guard let layout = WiegandFormat.standard.first(where: { $0.badgeFormat == format }),
              let bits = layout.encode(facility: credential.facilityCode, card: credential.cardNumber) else {
            throw CLIError("badge \(credential) does not fit the \(format.rawValue) layout")
        }
        let text = String(bits.map { $0 ? "1" : "0" })
        if global.json { try Output.json(Frame(badge: credential.description, format: format.rawValue, length: bits.count, bits: text)); return }
        print(text)
    }
}
