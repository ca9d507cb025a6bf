import Crypto
import FaceKit
import Foundation
import Matching
import Storage
import WardenCore

/// One-shot enrollment: a photo becomes a template after it passes the face-count, size,
/// sharpness and pose gates and is not already someone else's face.
public struct Enroller {
    public let engine: FaceEngine
    public let db: WardenDatabase
    public var quality: EnrollmentQualityPolicy
    public var thresholds: MatchThresholds
    public var detection: DetectionOptions
    /// The second recognition model, when installed: a photo's face is enrolled as a
    /// template of each model, in one change.
    public var second: (any FaceRecognizer)?

    public init(engine: FaceEngine, db: WardenDatabase, quality: EnrollmentQualityPolicy = .default, thresholds: MatchThresholds = .default,
                detection: DetectionOptions = DetectionOptions(upsample: 1), second: (any FaceRecognizer)? = nil) {
        self.engine = engine; self.db = db; self.quality = quality; self.thresholds = thresholds; self.detection = detection; self.second = second
    }

    public enum Outcome {
        case enrolled(FaceTemplate, FaceQuality)
        case rejected([String])
        case duplicatePhoto(templateID: Int64)
    }

    public struct DuplicateIdentity: Error, CustomStringConvertible {
        public let otherPerson: Person
        public let distance: Double
        public let threshold: Double
        public var description: String {
            String(format: "this face already matches #%lld %@ (distance %.3f, threshold %.2f); enrollment refused. If they really are different people, repeat with --force.",
                   otherPerson.id ?? -1, otherPerson.displayName, distance, threshold)
        }
    }

    /// Enrolls one photo for `person`. `useLargest` picks the largest face when a photo holds
    /// several; otherwise several faces are a rejection.
    public func enroll(photo path: String, for person: Person, useLargest: Bool, force: Bool, by op: Operator,
                gallery: inout Gallery) throws -> Outcome {
        var unused = Gallery(modelID: second?.modelID ?? "none")
        return try enroll(photo: path, for: person, useLargest: useLargest, force: force, by: op, gallery: &gallery, secondGallery: &unused)
    }

    /// The same, adding the second model's template (when there is one) to `secondGallery`.
    public func enroll(photo path: String, for person: Person, useLargest: Bool, force: Bool, by op: Operator,
                gallery: inout Gallery, secondGallery: inout Gallery) throws -> Outcome {
        guard let personID = person.id else { throw StorageError.invalid("person has no id") }
        // Bounded and regular files only: a 1 GiB file, a FIFO or /dev/zero is refused
        // before it costs memory or blocks.
        let bytes: [UInt8]
        do { bytes = try RGBImage.readFile(path) } catch { throw EnrollmentError("\(path): \(error.description)") }
        let sha = Hex.encode(SHA256.hash(data: bytes))
        if let same = try db.templates.forPerson(personID).first(where: { $0.sourceSHA256 == sha }), let id = same.id {
            return .duplicatePhoto(templateID: id)
        }
        let verdict: EnrollmentAssessment.Verdict, secondEmbedding: Embedding?
        do {
            (verdict, secondEmbedding) = try EnrollmentAssessment.assess(bytes, engine: engine, detection: detection, quality: quality, useLargest: useLargest, second: second)
        } catch let e as ImageError {
            throw EnrollmentError("\(path): \(e.description)")
        }
        guard case .accepted(let embedding, let q) = verdict else {
            if case .rejected(let why) = verdict { return .rejected(why) }
            return .rejected([])
        }

        // Is this face already someone else's?
        if !force, let other = gallery.search(embedding.values, k: 2).first(where: { $0.personID != personID }),
           other.distance <= thresholds.verify, let otherPerson = try db.people.get(other.personID) {
            throw DuplicateIdentity(otherPerson: otherPerson, distance: other.distance, threshold: thresholds.verify)
        }
        func row(_ e: Embedding) -> FaceTemplate {
            FaceTemplate(personId: personID, embedding: Data(e.serialized()), modelID: e.modelID,
                         interEyeDistance: q.interEyeDistance, sharpness: q.sharpness, yaw: q.yaw, roll: q.roll,
                         detectionScore: q.detectionScore, sourceSHA256: sha, sourceName: (path as NSString).lastPathComponent,
                         createdBy: op.name)
        }
        // One change: both models' templates of the photo, or neither.
        let stored = try db.templates.addAll([row(embedding)] + (secondEmbedding.map { [row($0)] } ?? []), by: op)
        try gallery.add(templateID: stored[0].id!, personID: personID, embedding: embedding)
        if stored.count > 1, let e = secondEmbedding, secondGallery.modelID == e.modelID {
            try secondGallery.add(templateID: stored[1].id!, personID: personID, embedding: e)
        }
        return .enrolled(stored[0], q)
    }
}

extension Enroller {
    /// Stores the faces a camera capture chose, as one enrollment: every one is checked
    /// against the other people first, and a single match refuses them all (unless
    /// `force`). Each template records its pose and quality; no frame is kept.
    public func enroll(captured: CameraCapture.Captured, source: String, for person: Person, force: Bool, by op: Operator,
                       gallery: inout Gallery) throws -> [FaceTemplate] {
        var unused = Gallery(modelID: "none")
        return try enroll(captured: captured, source: source, for: person, force: force, by: op, gallery: &gallery, secondGallery: &unused)
    }

    /// The same, with the second model's embeddings of the chosen faces (when the capture
    /// took them) stored beside dlib's, in the same change, and added to `secondGallery`.
    public func enroll(captured: CameraCapture.Captured, source: String, for person: Person, force: Bool, by op: Operator,
                       gallery: inout Gallery, secondGallery: inout Gallery) throws -> [FaceTemplate] {
        guard let personID = person.id else { throw StorageError.invalid("person has no id") }
        if !force {
            for c in captured.chosen {
                if let other = gallery.search(c.embedding.values, k: 2).first(where: { $0.personID != personID }),
                   other.distance <= thresholds.verify, let otherPerson = try db.people.get(other.personID) {
                    throw DuplicateIdentity(otherPerson: otherPerson, distance: other.distance, threshold: thresholds.verify)
                }
            }
        }
        let pairs = captured.chosen.map { ($0, $0.embedding) } + captured.chosen.compactMap { c in c.secondEmbedding.map { (c, $0) } }
        let rows = pairs.map { c, embedding -> FaceTemplate in
            let data = Data(embedding.serialized())
            let q = c.quality
            // The embedding's own hash stands where a photo's would: a capture has no file.
            return FaceTemplate(
                personId: personID, embedding: data, modelID: embedding.modelID,
                interEyeDistance: q.interEyeDistance, sharpness: q.sharpness, yaw: q.yaw, roll: q.roll,
                detectionScore: q.detectionScore, sourceSHA256: Hex.encode(SHA256.hash(data: data)),
                sourceName: TemplateSelection.captureSourceName(camera: source, frame: c.frame, pose: c.bin.rawValue, yaw: c.pose.yaw, noseDrop: c.pose.noseDrop),
                createdBy: op.name)
        }
        // One change: the whole set, or nothing (a full disk midway leaves no partial set).
        let stored = try db.templates.addAll(rows, by: op)
        for (t, (_, embedding)) in zip(stored, pairs) {
            if embedding.modelID == gallery.modelID { try gallery.add(templateID: t.id!, personID: personID, embedding: embedding) }
            else if embedding.modelID == secondGallery.modelID { try secondGallery.add(templateID: t.id!, personID: personID, embedding: embedding) }
        }
        return stored
    }
}

/// A photo that could not be read at all (as opposed to one rejected by the gates).
public struct EnrollmentError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
