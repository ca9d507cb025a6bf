import ArgumentParser
import FaceKit
import Foundation
import Matching
import Storage
import WardenCore

/// The operator option for commands that change state.
struct OperatorOption: ParsableArguments {
    @Option(name: .customLong("operator"), help: "Who is making this change (default: the OS user).")
    var name: String?
    var resolved: Operator { Operator.resolve(explicit: name) }
    func validate() throws { if let p = Operator.problem(with: name) { throw ValidationError(p) } }
}

extension GlobalOptions {
    /// Opens (creating it in a new home) the identity database in the data directory. Every
    /// change made through it is audited inside its own transaction (AuditedChanges).
    /// `readOnly` for commands that only read: they still work on a full disk.
    ///
    /// An established home (it has an audit log or a template key) whose database is
    /// missing or empty is refused, not re-created: new ids would restart at #1 and collide
    /// with the people the audit log already names.
    func openDatabase(readOnly: Bool = false) throws -> WardenDatabase {
        let path = wardenHome.file(WardenDatabase.fileName)
        if let why = wardenHome.lostIdentityDatabase() {
            throw CLIError("\(why); restore \(path) from a backup. Warden will not start a new one in an existing home: its ids "
                           + "would collide with the people the audit log names (to start afresh, move the whole directory \(wardenHome.path) aside)")
        }
        do {
            if readOnly { return try WardenDatabase(path: path, readOnly: true) }
            try wardenHome.create()
            return try WardenDatabase(path: path, auditor: AuditedChanges(store: try openAudit()))
        } catch let e as CLIError { throw e } catch let e as StorageError { throw CLIError(DiskSpace.explain(e.description, home: wardenHome.path)) } catch let e as TemplateCipherError { throw CLIError(e.description) } catch {
            throw CLIError(DiskSpace.explain("cannot use the data directory \(wardenHome.path): \(error)", home: wardenHome.path))
        }
    }

    func loadEngine(cnn: Bool = false) throws -> FaceEngine {
        do { return try FaceEngine(locator: modelLocator, loadCNNDetector: cnn) } catch { throw CLIError(error.description) }
    }

    func thresholds() throws -> MatchThresholds { try MatchingConfiguration.load(home: wardenHome) }

    /// The learned metric head in force, if one is configured (see MatchingConfiguration).
    func metricHead() throws -> MetricHead? { try MatchingConfiguration.loadHead(home: wardenHome) }

    /// Every stored template in the matching space in force.
    func loadGallery(_ db: WardenDatabase, modelID: String = ModelSet.recognitionModelID) throws -> Gallery {
        try Gallery.load(from: db, modelID: modelID, head: try metricHead()).gallery
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
    guard let face = faces.max(by: { $0.box.area < $1.box.area }) else {
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

    init(_ p: Person, templates: Int? = nil, badges: [String]? = nil) {
        id = p.id ?? -1; name = p.displayName; externalID = p.externalID; status = p.status.rawValue
        validFrom = p.validFrom; validUntil = p.validUntil; self.templates = templates; self.badges = badges
    }
}

/// Parses a YYYY-MM-DD date (UTC midnight) or a full ISO 8601 timestamp.
func parseDate(_ text: String, option: String) throws -> Date {
    let iso = ISO8601DateFormatter()
    if let d = iso.date(from: text) { return d }
    iso.formatOptions = [.withFullDate]
    if let d = iso.date(from: text) { return d }
    throw ValidationError("\(option) '\(text)' is not a date (YYYY-MM-DD or ISO 8601)")
}

func formatDate(_ d: Date?) -> String {
    guard let d else { return "-" }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withFullDate]
    return f.string(from: d)
}
