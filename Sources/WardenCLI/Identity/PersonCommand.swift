import CommandSupport
import ArgumentParser
import FleetProtocol
import Foundation
import OpenCVFaces
import FaceKit
import Matching
import Storage
import WardenCore

struct PersonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "person",
        abstract: "Add, list, show, suspend and remove the people Warden knows.",
        discussion: """
        A person is referred to by Warden id (12 or #12), external id (e.g. an HR number), \
        or exact name. Every change is recorded with the operator who made it.

        Examples:
          warden person add "Ada Lovelace" --external-id E1001 --valid-until 2027-06-30
          warden enroll E1001 ada.jpg
          warden person suspend E1001
          warden person remove E1001 --yes
        """,
        subcommands: [AddPerson.self, ListPeople.self, ShowPerson.self, SuspendPerson.self, ActivatePerson.self, RemovePerson.self, UndoTemplateUpdates.self]
    )
}

struct AddPerson: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a person (then enroll a photo with `warden enroll`).")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Display name.") var name: String
    @Option(name: .customLong("external-id"), help: "Your own identifier for them (unique).") var externalID: String?
    @Option(name: .customLong("valid-from"), help: "First day of access (YYYY-MM-DD).") var validFrom: String?
    @Option(name: .customLong("valid-until"), help: "Access ends at the start of this day (YYYY-MM-DD).") var validUntil: String?

    func run() throws {
        if let remote = try global.remoteAdmin() {
            let w = try remote.post(PersonRecordWire.self, AdminPath.people, AdminPersonAdd(
                name: name, externalID: externalID, validFrom: try validFrom.map { try parseDate($0, option: "--valid-from") },
                validUntil: try validUntil.map { try parseDate($0, option: "--valid-until") }))
            let person = Person(wire: w)
            if global.json { try Output.json(PersonRecord(person, templates: 0, badges: [])); return }
            print("added #\(w.id) \(w.displayName) at \(remote.server)" + (w.externalID.map { " (external id \($0))" } ?? ""))
            // The reference the person is known by at the site: the external id, else the Warden id.
            print("next: warden enroll \(w.externalID ?? String(w.id)) PHOTO --server \(remote.server)")
            return
        }
        let db = try global.openDatabase()
        let person = try storage {
            try db.people.add(Person(displayName: name, externalID: externalID,
                                     validFrom: try validFrom.map { try parseDate($0, option: "--valid-from") },
                                     validUntil: try validUntil.map { try parseDate($0, option: "--valid-until") }), by: op.resolved)
        }
        if global.json { try Output.json(PersonRecord(person, templates: 0, badges: [])); return }
        print("added #\(person.id!) \(person.displayName)" + (person.externalID.map { " (external id \($0))" } ?? ""))
        print("next: warden enroll \(person.externalID ?? String(person.id!)) PHOTO")
    }
}

struct ListPeople: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List people with their template and badge counts.")
    @OptionGroup var global: AdminModelCommandOptions
    @Option(help: "Only people with this status (active, suspended).") var status: PersonStatus?

    func run() throws {
        if let remote = try global.remoteAdmin() {
            let records = try remote.get([PersonRecordWire].self, AdminPath.people).map { PersonRecord(Person(wire: $0)) }.filter { status == nil || $0.status == status!.rawValue }
            if global.json { try Output.json(records); return }
            for r in records { print(String(format: "%5lld  ", r.id) + pad(r.status, 10) + shown(r.name) + (r.externalID.map { " [\(shown($0))]" } ?? "")) }
            return
        }
        let db = try global.openDatabase(readOnly: true)
        let people = try storage { try db.people.list(status: status) }
        let records = try people.map { p in
            let templates = try db.templates.forPerson(p.id!)
            return PersonRecord(p, templates: templates.count,
                                badges: try db.badges.list(personID: p.id!).filter { $0.status == .active }.map(\.credentialText),
                                templateModels: Array(Set(templates.map(\.modelID))).sorted())
        }
        if global.json { try Output.json(records); return }
        if records.isEmpty { print("nobody yet: add someone with `warden person add NAME`"); return }
        // Short names for the models: dlib's, and the second model's.
        func short(_ id: String) -> String { id == ModelSet.recognitionModelID ? "dlib" : id == SFaceRecognizer.modelID ? "sface" : id }
        print("   id  status     templates  models       badges          valid until  name")
        for r in records {
            print(String(format: "%5lld  ", r.id) + pad(r.status, 10) + pad(String(r.templates ?? 0), 11)
                  + pad((r.templateModels ?? []).map(short).joined(separator: "+"), 13)
                  + pad((r.badges ?? []).joined(separator: ","), 16) + pad(formatDate(r.validUntil), 13) + shown(r.name)
                  + (r.externalID.map { " [\(shown($0))]" } ?? ""))
        }
        // People with dlib templates and none of the second model are decided on dlib alone.
        let withFaces = records.filter { !($0.templateModels ?? []).isEmpty }
        let lacking = withFaces.filter { !($0.templateModels ?? []).contains(SFaceRecognizer.modelID) }
        let secondInstalled = lacking.count < withFaces.count || (try? global.recognitionModelLocator.locate(.sface)) != nil
        if !lacking.isEmpty && secondInstalled {
            print("\(lacking.count) of \(withFaces.count) people with a face have no sface template: decided on dlib alone until a confident door pass or re-enrollment gives them one")
        }
    }
}

extension PersonStatus: ExpressibleByArgument {}

struct ShowPerson: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one person with their badges and templates.")
    @OptionGroup var global: AdminCommandOptions
    @Argument(help: "Warden id, external id or exact name.") var person: String

    struct TemplateInfo: Codable {
        let id: Int64; let source: String; let model: String; let interEyeDistance: Double
        let sharpness: Double; let yaw: Double; let roll: Double; let createdBy: String; let createdAt: Date
    }
    struct BadgeInfo: Codable {
        let credential: String; let format: String; let status: String; let issuedAt: Date; let revokedAt: Date?
        init(_ b: Badge) { credential = b.credentialText; format = b.format; status = b.status.rawValue; issuedAt = b.issuedAt; revokedAt = b.revokedAt }
    }
    struct Detail: Codable { let person: PersonRecord; let badges: [BadgeInfo]; let templates: [TemplateInfo] }

    func run() throws {
        let p: Person, templates: [TemplateInfo], badges: [BadgeInfo]
        if let remote = try global.remoteAdmin() {
            let d = try remote.get(AdminPersonDetail.self, AdminPath.personDetail, query: ["person": person])
            p = Person(wire: d.person)
            templates = d.templates.map {
                TemplateInfo(id: $0.id, source: $0.sourceName, model: $0.modelID, interEyeDistance: $0.interEyeDistance,
                             sharpness: $0.sharpness, yaw: $0.yaw, roll: $0.roll, createdBy: $0.createdBy, createdAt: $0.createdAt)
            }
            badges = d.badges.map { BadgeInfo(Badge(wire: $0)) }
        } else {
            let db = try global.openDatabase(readOnly: true)
            p = try storage { try db.people.find(person) }
            templates = try db.templates.forPerson(p.id!).map {
                TemplateInfo(id: $0.id!, source: $0.sourceName, model: $0.modelID, interEyeDistance: $0.interEyeDistance,
                             sharpness: $0.sharpness, yaw: $0.yaw, roll: $0.roll, createdBy: $0.createdBy, createdAt: $0.createdAt)
            }
            badges = try db.badges.list(personID: p.id!).map(BadgeInfo.init)
        }
        if global.json { try Output.json(Detail(person: PersonRecord(p, templates: templates.count), badges: badges, templates: templates)); return }
        print("#\(p.id!) \(shown(p.displayName))" + (p.externalID.map { " [\(shown($0))]" } ?? ""))
        print("  status \(p.status.rawValue), valid \(formatDate(p.validFrom)) to \(formatDate(p.validUntil))")
        print("  badges: " + (badges.isEmpty ? "none" : badges.map { "\($0.credential) \($0.format) \($0.status)" }.joined(separator: "; ")))
        print("  templates: \(templates.count)" + (templates.isEmpty ? " (enroll a photo with `warden enroll \(p.id!) PHOTO`)" : ""))
        for t in templates {
            print(String(format: "    #%lld from %@: eyes %.0f px, sharpness %.0f, yaw %+.2f, roll %+.1f°, by %@",
                         t.id, t.source, t.interEyeDistance, t.sharpness, t.yaw, t.roll, t.createdBy))
        }
    }
}

struct SuspendPerson: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "suspend", abstract: "Suspend a person: they are no longer recognised or let in, but keep their templates.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Warden id, external id or exact name.") var person: String
    func run() throws { try setStatus(global, op, person, .suspended) }
}

struct ActivatePerson: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "activate", abstract: "Lift a suspension.")
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Warden id, external id or exact name.") var person: String
    func run() throws { try setStatus(global, op, person, .active) }
}

private func setStatus(_ global: some ReachesServer, _ op: OperatorOption, _ ref: String, _ status: PersonStatus) throws {
    if let remote = try global.remoteAdmin() {
        let p = Person(wire: try remote.post(PersonRecordWire.self, AdminPath.personStatus, AdminPersonStatus(person: ref, active: status == .active)))
        if global.json { try Output.json(PersonRecord(p)); return }
        print("#\(p.id!) \(p.displayName) is now \(p.status.rawValue) (at \(remote.server); every board within seconds)")
        return
    }
    let db = try global.openDatabase()
    let p = try storage { try db.people.setStatus(try db.people.find(ref).id!, to: status, by: op.resolved) }
    if global.json { try Output.json(PersonRecord(p)); return }
    print("#\(p.id!) \(p.displayName) is now \(p.status.rawValue)")
}

struct UndoTemplateUpdates: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo-updates",
        abstract: "Remove the templates that template update added for a person; the enrolled ones stay.",
        discussion: "Each removal is recorded with the operator. A running controller uses the change after a reload (SIGHUP)."
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Warden id, external id or exact name.") var person: String

    func run() throws {
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        let added = try storage { try db.templates.forPerson(p.id!) }.filter { $0.createdBy == TemplateUpdateRule.creator }
        for t in added { try storage { try db.templates.delete(t.id!, by: op.resolved) } }
        if global.json { try Output.json(["person": String(p.id!), "removed": String(added.count)]); return }
        print(added.isEmpty ? "#\(p.id!) \(p.displayName) has no template added by template update"
                            : "removed \(added.count) template\(added.count == 1 ? "" : "s") added by template update from #\(p.id!) \(p.displayName): \(added.map { "#\($0.id!)" }.joined(separator: ", "))")
    }
}

struct RemovePerson: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Delete a person and, for good, all their face templates and badges.",
        discussion: "This is the right-to-be-forgotten path: templates are deleted from the database, not flagged. The change record keeps only the id, name and counts."
    )
    @OptionGroup var global: AdminCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Warden id, external id or exact name.") var person: String
    @Flag(help: "Confirm the deletion.") var yes = false

    struct Removed: Codable { let person: PersonRecord; let templatesDeleted: Int; let badgesDeleted: Int }

    func run() throws {
        if let remote = try global.remoteAdmin() {
            guard yes else { throw CLIError("this deletes \(person) and their templates for good, at the server and on every board; repeat with --yes") }
            let r = try remote.post(AdminRemoval.self, AdminPath.personRemove, AdminPersonRef(person: person))
            if global.json { try Output.json(Removed(person: PersonRecord(Person(wire: r.person)), templatesDeleted: r.templatesDeleted, badgesDeleted: r.badgesDeleted)); return }
            print("removed #\(r.person.id) \(r.person.displayName) at \(remote.server): \(counted(r.templatesDeleted, "template")) and \(counted(r.badgesDeleted, "badge")) deleted")
            return
        }
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        guard yes else { throw CLIError("this deletes #\(p.id!) \(shown(p.displayName)) and their templates for good; repeat with --yes") }
        let r = try storage { try db.people.remove(p.id!, by: op.resolved) }
        // The erased templates' old pages must not survive in the write-ahead log. A running
        // controller truncates its own on SIGHUP and at shutdown.
        do { try db.checkpointAndTruncateLog() } catch {
            Output.note("note: \(error); it is truncated when the controller reloads (SIGHUP) or stops")
        }
        if global.json { try Output.json(Removed(person: PersonRecord(r.person), templatesDeleted: r.templatesDeleted, badgesDeleted: r.badgesDeleted)); return }
        print("removed #\(p.id!) \(p.displayName): \(counted(r.templatesDeleted, "template")) and \(counted(r.badgesDeleted, "badge")) deleted")
    }
}

/// Stored text as it is safe to print: control characters shown as escapes, so a name can
/// neither forge table rows nor drive the terminal.
func shown(_ text: String) -> String { DisplayText.escapingControls(text) }
