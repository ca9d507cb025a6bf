import Audit
import Capture
import Controller
import FaceKit
import Foundation
import Policy
import Storage
import WardenCore

// In-memory twins of the door loop's ports, the way NIOEmbedded sits beside NIOPosix: a
// door wired to these runs without models, files or threads, on a manual clock, and a
// test says exactly what the camera's faces embed to.

/// The identity port in memory. `failure` set: every read throws it, as a damaged
/// database would.
public final class InMemoryIdentity: IdentitySnapshot {
    public var people: [Int64: Person] = [:]
    public var groups: [Int64: Set<String>] = [:]
    public var badges: [BadgeCredential: (person: Int64, revoked: Bool)] = [:]
    public var failure: (any Error)?
    private var nextID: Int64 = 1
    public init() {}

    /// Adds an active person; returns their id.
    @discardableResult
    public func add(_ name: String, groups: Set<String> = [], badge: String? = nil, at time: Date) throws -> Int64 {
        let id = nextID
        nextID += 1
        var p = Person(displayName: name, at: time)
        p.id = id
        people[id] = p
        self.groups[id] = groups
        if let badge { badges[try BadgeCredential(parsing: badge)] = (id, false) }
        return id
    }

    public func badge(_ credential: BadgeCredential) throws -> BadgeLookup {
        if let failure { throw failure }
        guard let b = badges[credential], let holder = try person(b.person) else { return .notIssued }
        return b.revoked ? .revoked(holder) : .issued(holder)
    }

    public func person(_ id: Int64) throws -> PersonAtDoor? {
        if let failure { throw failure }
        return people[id].map { PersonAtDoor(person: $0, groups: groups[$0.id!] ?? []) }
    }

    public func isEligible(_ id: Int64, at time: Date) -> Bool { failure == nil && (people[id]?.isEligible(at: time) ?? false) }
}

/// The audit port in memory: every event and timeline line, in order.
public final class RecordedDoorEvents: DoorEventSink {
    public private(set) var events: [AuditEvent] = []
    public private(set) var lines: [(door: String, text: String, severity: TimelineSeverity)] = []
    public init() {}
    public func record(_ event: AuditEvent) { events.append(event) }
    public func timeline(_ door: String, _ text: String, severity: TimelineSeverity) { lines.append((door, text, severity)) }
    public var decisions: [AuditEvent] { events.filter { $0.kind == .decision } }
}

/// One face in front of a scripted camera: which track it is, what it embeds to, and how
/// good it looks.
public struct ScriptedFace: Sendable {
    public var track: Int
    public var vector: [Float]
    public var quality: Double
    /// false: the frame shows the face but is not worth embedding (a repeated vote).
    public var embedded: Bool
    public var liveness: Double?
    public init(track: Int, vector: [Float], quality: Double = 1, embedded: Bool = true, liveness: Double? = nil) {
        self.track = track; self.vector = vector; self.quality = quality; self.embedded = embedded; self.liveness = liveness
    }
}

/// The face port as a script: each frame submitted shows `inView`, recognised inline. What
/// the door asks of the pipeline (settle, more evidence, reset) is kept for the test to read.
public final class ScriptedFaces: DoorFaces {
    public var inView: [ScriptedFace] = []
    public let modelID: String
    public private(set) var settled: [(track: Int, until: Date?)] = []
    public private(set) var evidenceWanted: [Int] = []
    public private(set) var resets = 0
    public private(set) var frames = 0
    public init(modelID: String = ModelSet.recognitionModelID) { self.modelID = modelID }

    /// A face box and landmarks of a plausible size (80 px between the eyes).
    static let face = Face(box: FaceBox(left: 200, top: 120, right: 360, bottom: 300), score: 1,
                           landmarks: FaceLandmarks(rightEyeOuter: Point(x: 220, y: 180), rightEyeInner: Point(x: 260, y: 180),
                                                    leftEyeOuter: Point(x: 340, y: 180), leftEyeInner: Point(x: 300, y: 180), noseBase: Point(x: 280, y: 230)))

    public func submit(_ frame: Frame) throws -> FaceObservation? {
        frames += 1
        let faces = try inView.map { f in
            TrackedFace(face: Self.face, track: f.track, quality: f.quality, embedding: f.embedded ? try Embedding(raw: f.vector, modelID: modelID) : nil,
                        liveness: nil)
        }
        return FaceObservation(at: frame.at, faces: faces, liveTracks: Set(inView.map(\.track)))
    }
    public func take() -> [FaceObservation] { [] }
    public func hasFrame(capturedBefore time: Date) -> Bool { false }
    public func wantEvidence(track: Int) { evidenceWanted.append(track) }
    public func settle(track: Int, until: Date?) { settled.append((track, until)) }
    public func setScoresLiveness(_ on: Bool) {}
    public func reset() { resets += 1 }
    public func stop() {}
}

/// A camera that delivers a frame every 1/`fps` s of the clock while `on`: small frames
/// that change from one to the next (a still picture for seconds is a frozen feed), so
/// camera health sees a working camera.
public final class ScriptedCamera: FrameSource {
    public let name: String
    public var on = true
    /// true: a live camera, whose silence is a fault (`no_signal`); false: played back.
    public var continuous = false
    public var deliversContinuously: Bool { continuous }
    let fps: Double
    let clock: any WardenClock
    private var sequence = 0
    private var nextDue: Date?
    public init(name: String, fps: Double = 5, clock: any WardenClock) { self.name = name; self.fps = fps; self.clock = clock }

    public func nextFrame() throws -> Frame? {
        guard on else { return nil }
        let now = clock.now
        if let due = nextDue, now < due { return nil }
        nextDue = now.addingTimeInterval(1 / fps)
        sequence += 1
        var image = RGBImage(width: 32, height: 24, fill: (120, 110, 100))
        image.pixels[sequence % image.pixels.count] = UInt8(truncatingIfNeeded: sequence)
        return Frame(image: image, at: now, sequence: sequence)
    }
}
