import CommandSupport
import ArgumentParser
import Audit
import FaceKit
import Foundation
import Matching
import Storage
import WardenCore

extension CommandOptions {
    /// Opens (creating it in a new home) the identity database in the data directory. Every
    /// change made through it is audited inside its own transaction (AuditedChanges).
    /// `readOnly` for commands that only read: they still work on a full disk.
    ///
    /// An established home (it has an audit log or a template key) whose database is
    /// missing or empty is refused, not re-created: new ids would restart at #1 and collide
    /// with the people the audit log already names.
    ///
    /// A board that has joined a fleet holds a replica: only the fleet agent (`forReplica`)
    /// writes to it, and admin changes are refused with where to make them.
    ///
    /// With `--server` or WARDEN_SERVER set, an admin command that has no server form yet is
    /// refused rather than run on this host's own home, where its answer or its change would
    /// look like the fleet's. `ownHome`: commands that only ever concern this home (`run`,
    /// `match`, `calibrate`).
    /// With --server or WARDEN_SERVER set, refuses a command that has no server form yet,
    /// rather than run it on this host's own home, where its answer or its change would
    /// look like the fleet's. One rule for the identity database and the audit log.
    package func refuseWithoutServerForm(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let url = server ?? environment["WARDEN_SERVER"], !url.isEmpty else { return }
        throw CLIError("this command does not work against the fleet server yet (--server or WARDEN_SERVER is set to \(url)), and was not run on this "
                       + "host's own data instead. Against the server: person, enroll, badge issue/revoke/list, group, grant, revoke, zone list, door list, "
                       + "policy check/explain/publish, thresholds, audit verify/export (docs/fleet.md). For this home, unset WARDEN_SERVER.")
    }

    package func openDatabase(readOnly: Bool = false, forReplica: Bool = false, ownHome: Bool = false,
                      environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WardenDatabase {
        let path = wardenHome.file(WardenDatabase.fileName)
        if !forReplica, !ownHome { try refuseWithoutServerForm(environment: environment) }
        if !readOnly, !forReplica, let m = try fleetMembership() {
            throw CLIError("this board is controller '\(m.settings.controller)' of the fleet at \(m.settings.server): its people, badges, templates and grants "
                           + "are a replica of the server's. Make the change at the server; it reaches this board within seconds.")
        }
        if let why = wardenHome.lostIdentityDatabase() {
            throw CLIError("\(why); restore \(path) from a backup. Warden will not start a new one in an existing home: its ids "
                           + "would collide with the people the audit log names (to start afresh, move the whole directory \(wardenHome.path) aside)")
        }
        do {
            if readOnly { return try WardenDatabase(path: path, readOnly: true) }
            try wardenHome.create()
            let audit: AuditStore
            do { audit = try openAudit(ownHome: true) } catch {
                throw CLIError("refused: the audit log cannot be opened for writing, nothing was changed (\(error))")
            }
            return try WardenDatabase(path: path, auditor: AuditedChanges(store: audit))
        } catch let e as CLIError { throw e } catch let e as StorageError { throw CLIError(DiskSpace.explain(e.description, home: wardenHome.path)) } catch let e as TemplateCipherError { throw CLIError(e.description) } catch {
            throw CLIError(DiskSpace.explain("cannot use the data directory \(wardenHome.path): \(error)", home: wardenHome.path))
        }
    }

    /// Every stored template in the matching space in force.
    func loadGallery(_ db: WardenDatabase, modelID: String = ModelSet.recognitionModelID) throws -> Gallery {
        try Gallery.load(from: db, modelID: modelID, head: try metricHead())
    }
}

/// Runs a store operation, turning storage errors into one-line CLI errors.
func storage<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as StorageError { throw CLIError(e.description) }
}

/// The single face a probe photo offers: the largest one.
func probeEmbedding(_ path: String, engine: FaceEngine, options: DetectionOptions = DetectionOptions(),
                    noFaceHint: String = "") throws -> (Embedding, Face, Int) {
    let image = try loadImage(path)
    let faces = try engine.detect(image, options: options)
    guard let face = faces.largest else {
        throw CLIError("\(path): no face found" + noFaceHint)
    }
    return (try engine.embed(image, face: face), face, faces.count)
}

/// JSON form of a person.
struct PersonRecord: Codable {
    let id: Int64
    let name: String
    let externalID: String?
    let status: String
    let validFrom: Date?
    let validUntil: Date?
    let templates: Int?
    let badges: [String]?
    /// The recognition models the person's templates are of (model ids), when listed.
    var templateModels: [String]? = nil

    init(_ p: Person, templates: Int? = nil, badges: [String]? = nil, templateModels: [String]? = nil) {
        id = p.id ?? -1; name = p.displayName; externalID = p.externalID; status = p.status.rawValue
        validFrom = p.validFrom; validUntil = p.validUntil; self.templates = templates; self.badges = badges; self.templateModels = templateModels
    }
}

/// Parses, strictly, a date or a timestamp in the forms Warden itself writes and people
/// type: `YYYY-MM-DD` (UTC midnight), and ISO 8601 `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or
/// an offset (`+01:00`), as the audit export writes. Anything after the value, or a field
/// out of range, is refused rather than dropped.
func parseDate(_ text: String, option: String) throws -> Date {
    guard let d = StrictDate.parse(text) else {
        throw ValidationError("\(option) '\(text)' is not a date: use YYYY-MM-DD or an ISO 8601 time such as 2026-12-01T09:27:33.760Z")
    }
    return d
}

enum StrictDate {
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) { guard (48...57).contains(b[i]) else { return nil }; v = v * 10 + Int(b[i] - 48) }
            return v
        }
        guard b.count >= 10, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var h = 0, mi = 0, sec = 0, ms = 0.0, offset = 0
        var i = 10
        if b.count > 10 {
            guard b[10] == 84 || b[10] == 116, let hh = num(11, 2), b.count > 13, b[13] == 58, let mm = num(14, 2) else { return nil }
            h = hh; mi = mm; i = 16
            if i < b.count, b[i] == 58 {
                guard let ss = num(i + 1, 2) else { return nil }
                sec = ss; i += 3
                if i < b.count, b[i] == 46 {
                    var j = i + 1, digits = "0."
                    while j < b.count, (48...57).contains(b[j]) { digits.append(Character(Unicode.Scalar(b[j]))); j += 1 }
                    guard j > i + 1, let f = Double(digits) else { return nil }
                    ms = f; i = j
                }
            }
            guard i < b.count else { return nil }  // a time needs its zone: Z or an offset
            if b[i] == 90 || b[i] == 122 { i += 1 } else if b[i] == 43 || b[i] == 45 {
                guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2), oh < 24, om < 60 else { return nil }
                offset = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1); i += 6
            } else { return nil }
            guard i == b.count, h < 24, mi < 60, sec < 61 else { return nil }
        }
        var comps = DateComponents()
        comps.calendar = Calendar(identifier: .gregorian)
        comps.timeZone = TimeZone(identifier: "UTC")
        comps.year = y; comps.month = mo; comps.day = d; comps.hour = h; comps.minute = mi; comps.second = sec
        guard comps.isValidDate, let date = comps.date else { return nil }
        return date.addingTimeInterval(ms - Double(offset))
    }
}

func formatDate(_ d: Date?) -> String {
    guard let d else { return "-" }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withFullDate]
    return f.string(from: d)
}
