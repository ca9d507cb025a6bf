import Audit
import Capture
import FaceKit
import Foundation
import Policy
import Storage
import WardenCore

// The door loop's ports: what a door needs from the rest of the board, as protocols (or pure
// types) so that `DoorController` depends on none of the concrete services. The board wires
// them to SQLite, the audit log and the face engine (`SiteController.addDoor`); the door
// tests wire in-memory twins (`ControllerEmbedded`) and run without models or files.

/// What a decision needs of a person, read once per decision: the record and their groups.
public struct PersonAtDoor: Sendable {
    public var person: Person
    public var groups: Set<String>
    public init(person: Person, groups: Set<String>) { self.person = person; self.groups = groups }
    public var id: Int64 { person.id! }
    public var facts: PersonFacts { person.facts(groups: groups) }
}

/// What a badge read finds in the identity database.
public enum BadgeLookup: Sendable {
    /// No badge with these numbers, or its holder is gone: "not issued".
    case notIssued
    case revoked(PersonAtDoor)
    case issued(PersonAtDoor)
}

/// The identity port: people, their badges and groups, as the door reads them. A read that
/// fails throws; the door then denies with `storage_error`, never with a credential reason.
public protocol IdentitySnapshot: AnyObject {
    func badge(_ credential: BadgeCredential) throws -> BadgeLookup
    func person(_ id: Int64) throws -> PersonAtDoor?
    /// Whether a gallery candidate may be named at all (active, inside their dates). An
    /// unreadable person is not eligible.
    func isEligible(_ id: Int64, at time: Date) -> Bool
}

/// The audit port: every event into the tamper-evident log, and the human timeline
/// (`warden run`'s output, `status`'s recent lines).
public protocol DoorEventSink: AnyObject {
    func record(_ event: AuditEvent)
    func timeline(_ door: String, _ text: String, severity: TimelineSeverity)
}

/// The face port: frames in, observations (tracked faces, embeddings, liveness scores) out.
/// Inline (`InlineFaces`: the main loop recognises the frame before `submit` returns) or on
/// a worker (`ThreadedFaces`: results come back later through `take`).
public protocol DoorFaces: AnyObject {
    /// The observation when recognised inline; nil when the frame went to a worker.
    func submit(_ frame: Frame) throws -> FaceObservation?
    /// Observations finished since the last call, in capture order.
    func take() -> [FaceObservation]
    /// Whether a frame captured before `time` is still being recognised.
    func hasFrame(capturedBefore time: Date) -> Bool
    /// The track's fresh votes disagree: embed its next frame whatever its quality.
    func wantEvidence(track: Int)
    /// Decided: recheck only until `until` (nil: someone new; collect evidence afresh).
    func settle(track: Int, until: Date?)
    /// Whether fresh embeddings are scored for presentation attacks.
    func setScoresLiveness(_ on: Bool)
    /// Forget every track (the camera was lost).
    func reset()
    func stop()
}

/// What the door does after a grant on a face: the template-update rules may learn it.
public protocol GrantedFaceLearning: AnyObject {
    func granted(person: Person, probe: Embedding, second: Embedding?, face: Face, door: String, live: Bool, badgeMatched: Bool?)
}

/// Whether presentation-attack detection can run here, and why not.
public struct LivenessAvailability: Sendable {
    public var loaded: Bool
    /// The first line of why it is not loaded.
    public var problem: String?
    public init(loaded: Bool, problem: String?) { self.loaded = loaded; self.problem = problem }
}

/// Everything a door is wired to.
public struct DoorPorts {
    public var clock: any WardenClock
    /// The policy and the site's shared state (two-person, escort, modes), pure.
    public var access: AccessDesk
    public var matcher: GalleryMatcher
    public var identity: any IdentitySnapshot
    public var events: any DoorEventSink
    /// nil: a door without a camera.
    public var faces: (any DoorFaces)?
    public var liveness: LivenessAvailability
    public var learning: (any GrantedFaceLearning)?
    /// Each camera's newest frame, lent to enrollment at the door.
    public var latestFrames: LatestFrames?
    /// An operator changed a door's mode (kept on disk by the board).
    public var modesChanged: () -> Void
    public init(clock: any WardenClock, access: AccessDesk, matcher: GalleryMatcher, identity: any IdentitySnapshot, events: any DoorEventSink,
                faces: (any DoorFaces)?, liveness: LivenessAvailability, learning: (any GrantedFaceLearning)? = nil, latestFrames: LatestFrames? = nil,
                modesChanged: @escaping () -> Void = {}) {
        self.clock = clock; self.access = access; self.matcher = matcher; self.identity = identity; self.events = events; self.faces = faces
        self.liveness = liveness; self.learning = learning; self.latestFrames = latestFrames; self.modesChanged = modesChanged
    }
}
