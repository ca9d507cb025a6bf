import Foundation

/// Enrollment at a door's camera through the server. The admin asks the server; the
/// server hands the job to the controller whose heartbeat reports that door; the board
/// runs the capture on its own camera and models and sends back only the chosen faces'
/// templates (no frame leaves the board); the server runs the fleet-wide duplicate check
/// and stores them. Jobs live in the server's memory: a restarted server forgets them and
/// the admin asks again.
public struct CaptureJob: Codable, Sendable, Equatable {
    public var id: String
    public var door: String
    public var personID: Int64
    public var personName: String
    public var seconds: Double
    public var templates: Int
    public var requestedBy: String
    public var requestedAt: Date
    public init(id: String, door: String, personID: Int64, personName: String, seconds: Double, templates: Int, requestedBy: String, requestedAt: Date) {
        self.id = id; self.door = door; self.personID = personID; self.personName = personName; self.seconds = seconds
        self.templates = templates; self.requestedBy = requestedBy; self.requestedAt = requestedAt
    }
}

/// What the capture at the board says while it runs (the admin's live line).
public struct CaptureProgressWire: Codable, Sendable, Equatable {
    public var job: String
    public var elapsed: Double
    public var frames: Int
    public var usable: Int
    /// The pose bins seen so far (frontal, left, right, up, down).
    public var covered: [String]
    public var hint: String
    public init(job: String, elapsed: Double, frames: Int, usable: Int, covered: [String], hint: String) {
        self.job = job; self.elapsed = elapsed; self.frames = frames; self.usable = usable; self.covered = covered; self.hint = hint
    }
}

/// One face the board's capture chose: its template and what it was taken from.
public struct CapturedTemplateWire: Codable, Sendable, Equatable {
    public var embedding: Data
    public var modelID: String
    public var pose: String
    public var yaw: Double
    public var noseDrop: Double
    public var roll: Double
    public var interEyeDistance: Double
    public var sharpness: Double
    public var detectionScore: Double
    public var frame: Int
    /// The same face embedded by the board's second recognition model (its model id is
    /// inside the serialized embedding), when the board has one; absent from older boards.
    public var secondEmbedding: Data?
    public init(embedding: Data, modelID: String, pose: String, yaw: Double, noseDrop: Double, roll: Double, interEyeDistance: Double, sharpness: Double,
                detectionScore: Double, frame: Int, secondEmbedding: Data? = nil) {
        self.embedding = embedding; self.modelID = modelID; self.pose = pose; self.yaw = yaw; self.noseDrop = noseDrop; self.roll = roll
        self.interEyeDistance = interEyeDistance; self.sharpness = sharpness; self.detectionScore = detectionScore; self.frame = frame
        self.secondEmbedding = secondEmbedding
    }
}

/// How the board's capture ended.
public struct CaptureResultWire: Codable, Sendable, Equatable {
    public var job: String
    /// Faces chosen (true) or the capture refused (false, with the reason).
    public var captured: Bool
    public var reason: String?
    public var templates: [CapturedTemplateWire]
    public var frames: Int
    public var usable: Int
    public var seconds: Double
    /// live; attack or unsure (refused for it); not_checked (no PAD model at the board,
    /// `livenessNote` says why); not_concluded (refused before liveness was decided).
    public var liveness: String
    public var livenessScore: Double?
    public var livenessNote: String?
    public init(job: String, captured: Bool, reason: String?, templates: [CapturedTemplateWire], frames: Int, usable: Int, seconds: Double,
                liveness: String, livenessScore: Double?, livenessNote: String?) {
        self.job = job; self.captured = captured; self.reason = reason; self.templates = templates; self.frames = frames; self.usable = usable
        self.seconds = seconds; self.liveness = liveness; self.livenessScore = livenessScore; self.livenessNote = livenessNote
    }
}

/// `warden enroll PERSON --camera DOOR` against a server.
public struct AdminCameraEnroll: Codable, Sendable {
    public var person: String; public var door: String; public var seconds: Double; public var templates: Int; public var force: Bool
    public init(person: String, door: String, seconds: Double, templates: Int, force: Bool) {
        self.person = person; self.door = door; self.seconds = seconds; self.templates = templates; self.force = force
    }
}

/// A capture job as the admin follows it.
public struct CaptureJobStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Waiting for the board to take it.
        case waiting
        case capturing
        case enrolled
        /// The capture or the enrollment refused it (the reason says why).
        case refused
        /// No answer: the board never took it, or never reported back.
        case failed

        public var isFinal: Bool { self == .enrolled || self == .refused || self == .failed }
    }
    public var job: String
    public var door: String
    public var controller: String
    public var personID: Int64
    public var state: State
    /// Goes up with every change, for the admin's long poll (`after`).
    public var version: Int
    public var progress: CaptureProgressWire?
    public var result: CaptureResultWire?
    /// The stored templates, in the order of `result.templates`.
    public var templateIDs: [Int64]
    /// The second recognition model's templates of the same faces, in the same order, and
    /// that model's id; absent when the board sent none.
    public var secondTemplateIDs: [Int64]?
    public var secondModel: String?
    public var reason: String?
    public init(job: String, door: String, controller: String, personID: Int64, state: State, version: Int, progress: CaptureProgressWire? = nil,
                result: CaptureResultWire? = nil, templateIDs: [Int64] = [], reason: String? = nil) {
        self.job = job; self.door = door; self.controller = controller; self.personID = personID; self.state = state; self.version = version
        self.progress = progress; self.result = result; self.templateIDs = templateIDs; self.reason = reason
    }
}
