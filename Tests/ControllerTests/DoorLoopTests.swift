import Audit
import Controller
import ControllerEmbedded
import DoorIO
import Foundation
import Policy
import Testing
import WardenCore
import WardenTestSupport

/// The door loop on its ports' in-memory twins: no models, no files. What faces embed to is
/// scripted, so these tests say exactly which votes a decision saw; the flows through the
/// real engine on real photos are `SiteFlowTests`.
@Suite("door loop without models")
struct DoorLoopTests {
    /// A unit vector along axis `i`, nudged by `jitter` along axis `i + 1` (the same person
    /// on another frame).
    static func face(_ i: Int, jitter: Float = 0) -> [Float] {
        var v = [Float](repeating: 0, count: 128)
        v[i] = 1
        v[i + 1] = jitter
        let n = (v.map { $0 * $0 }.reduce(0, +)).squareRoot()
        return v.map { $0 / n }
    }
    static let ada = face(0), adaAgain = face(0, jitter: 0.1), stranger = face(10), bob = face(20)

    static func door(_ id: String, at hhmm: String, face: FaceSettings = FaceSettings(), lockout: LockoutSettings = LockoutSettings()) throws -> EmbeddedDoor {
        let policy = try PolicyLoader().load(directory: TestCheckout.root.appendingPathComponent("policies/example").path).withLivenessOff()
        let pins = try PinMap.load(path: TestCheckout.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        let f = DateFormatter(); f.timeZone = TimeZone(identifier: "Europe/Berlin"); f.dateFormat = "yyyy-MM-dd HH:mm"
        // Tuesday 2026-12-01.
        return try EmbeddedDoor(policy: policy, pinMap: pins, door: id, face: face, lockout: lockout, start: f.date(from: "2026-12-01 " + hhmm)!)
    }

    @Test func aFaceOnlyDoorGrantsTheEnrolledAndDeniesAStranger() throws {
        let d = try Self.door("lobby", at: "08:30")
        let ada = try d.enroll("Ada", vector: Self.ada, groups: ["staff"])
        d.show([ScriptedFace(track: 1, vector: Self.stranger)], for: 2)
        #expect(d.releases == 0)
        d.show([ScriptedFace(track: 2, vector: Self.adaAgain)], for: 2)
        let decided = d.events.decisions
        #expect(decided.map(\.type) == ["access.denied", "access.granted"])
        #expect(decided.first?.reasons == ["not_recognized"] && decided.first?.detail?["note"] == "no enrolled face is close enough")
        #expect(decided.last?.personID == ada && decided.last?.face?.frames == 3)
        #expect(d.events.lines.first { $0.text.hasPrefix("GRANTED") }?.severity == .info)
        #expect(d.releases == 1)
    }

    /// Only fresh votes make up the frames required: one embedded frame repeated by frames
    /// not worth embedding never opens the door.
    @Test func oneEmbeddedFrameRepeatedIsNotEnough() throws {
        let d = try Self.door("lobby", at: "08:30", face: FaceSettings(framesRequired: 3, maximumFrames: 30))
        try d.enroll("Ada", vector: Self.ada, groups: ["staff"])
        d.faces.inView = [ScriptedFace(track: 1, vector: Self.ada)]
        d.run(for: 0.1)
        d.faces.inView = [ScriptedFace(track: 1, vector: Self.ada, embedded: false)]
        d.run(for: 3)   // 15 frames, one of them embedded
        #expect(d.events.decisions.isEmpty && d.releases == 0)
        d.faces.inView = [ScriptedFace(track: 1, vector: Self.ada)]
        d.run(for: 1)
        #expect(d.events.decisions.map(\.type) == ["access.granted"])
    }

    /// A track that never agrees is decided at `maximum_frames`: denied, in words.
    @Test func framesThatNeverAgreeAreDeniedAtTheLimit() throws {
        let d = try Self.door("lobby", at: "08:30", face: FaceSettings(framesRequired: 3, maximumFrames: 6))
        try d.enroll("Ada", vector: Self.ada, groups: ["staff"])
        // Ada, then a look of the same face too far from her template (0.46) to name anyone.
        let doubtful = Self.face(0, jitter: 0.5)
        for i in 0..<8 {   // one frame a step
            d.faces.inView = [ScriptedFace(track: 1, vector: i % 2 == 0 ? Self.ada : doubtful)]
            d.door.step()
            d.clock.advance(by: 0.2)
        }
        #expect(d.faces.frames == 8)
        let denied = try #require(d.events.decisions.first)
        #expect(d.events.decisions.count == 1 && denied.type == "access.denied")
        #expect(denied.detail?["note"]?.hasPrefix("the frames did not agree on one person") == true, "\(denied.detail ?? [:])")
        #expect(d.faces.evidenceWanted.contains(1))
    }

    /// Someone else stepping into the same place (the same track, a face far from its
    /// first) starts fresh evidence: the first person's votes do not count for them.
    @Test func someoneElseInTheSameTrackStartsAfresh() throws {
        let d = try Self.door("lobby", at: "08:30", face: FaceSettings(framesRequired: 3, maximumFrames: 8))
        try d.enroll("Ada", vector: Self.ada, groups: ["staff"])
        let bob = try d.enroll("Bob", vector: Self.bob, groups: ["staff"])
        d.faces.inView = [ScriptedFace(track: 1, vector: Self.ada)]
        d.run(for: 0.3)   // two frames of Ada: not yet decided
        #expect(d.events.decisions.isEmpty)
        d.faces.inView = [ScriptedFace(track: 1, vector: Self.bob)]
        d.run(for: 1)
        #expect(d.faces.settled.contains { $0.track == 1 && $0.until == nil })
        #expect(d.events.decisions.map(\.personID) == [bob])
    }

    @Test func badgeAndFaceRightWrongAndNoFace() throws {
        let d = try Self.door("server-room", at: "10:00")
        let ada = try d.enroll("Ada", vector: Self.ada, groups: ["it-admins"], badge: "12:1001")
        try d.enroll("Bob", vector: Self.bob, groups: ["it-admins"], badge: "12:1002")
        // Ada's badge and Ada's face.
        try d.swipe("12:1001")
        #expect(d.events.lines.contains { $0.text.contains("badge 12:1001 read") && $0.text.contains("look at the camera") })
        d.show([ScriptedFace(track: 1, vector: Self.adaAgain)], for: 2)
        // Bob's badge and Ada's face: the face is not the holder's.
        try d.swipe("12:1002")
        d.show([ScriptedFace(track: 2, vector: Self.ada)], for: 2)
        // Ada's badge and nobody at the camera.
        try d.swipe("12:1001")
        d.run(for: 9)
        let decided = d.events.decisions
        #expect(decided.map(\.type) == ["access.granted", "access.denied", "access.denied"])
        #expect(decided[0].personID == ada && Set(decided[0].factors?.map(\.factor) ?? []) == ["badge", "face"])
        #expect(decided[1].detail?["note"]?.hasPrefix("the face did not match the badge holder in 0 of") == true)
        #expect(decided[2].detail?["note"] == "no face shown within 8s of the badge")
        #expect(d.releases == 1)
    }

    /// A failed read of the identity database is its own reason: alarmed, never a
    /// credential reason, never a release, and not counted toward a lockout.
    @Test func anUnreadableIdentityIsAStorageErrorNeverACredentialReason() throws {
        struct DamagedPage: Error, CustomStringConvertible { var description: String { "database disk image is malformed" } }
        let d = try Self.door("server-room", at: "10:00", lockout: LockoutSettings(attempts: 2, window: 60, duration: 300))
        try d.enroll("Ada", vector: Self.ada, groups: ["it-admins"], badge: "12:1001")
        d.identity.failure = DamagedPage()
        for _ in 0..<3 { try d.swipe("12:1001") }
        let decided = d.events.decisions
        #expect(decided.count == 3 && decided.allSatisfy { $0.reasons == ["storage_error"] && $0.rule == "storage_error" })
        #expect(d.events.events.contains { $0.type == "system.storage_error" && $0.detail?["reason"] == "database disk image is malformed" })
        #expect(!d.events.events.contains { $0.type == "system.lockout" })
        #expect(d.releases == 0)
    }

    @Test func repeatedFailuresLockTheReaderOut() throws {
        let d = try Self.door("server-room", at: "10:00", lockout: LockoutSettings(attempts: 3, window: 60, duration: 300))
        try d.enroll("Ada", vector: Self.ada, groups: ["it-admins"], badge: "12:1001")
        for n in 0..<3 { try d.swipe("12:\(2000 + n)") }
        #expect(d.events.events.filter { $0.type == "system.lockout" }.count == 1)
        #expect(d.events.lines.contains { $0.text.hasPrefix("LOCKOUT") && $0.severity == .warning })
        #expect(d.events.lines.filter { $0.text.hasPrefix("DENIED") }.allSatisfy { $0.severity == .notice })
        // Even the right badge is refused while the reader is locked out ...
        try d.swipe("12:1001")
        d.show([ScriptedFace(track: 1, vector: Self.ada)], for: 2)
        #expect(d.events.decisions.last?.reasons == ["lockout"])
        // ... and admitted once it has passed.
        d.run(for: 301)
        try d.swipe("12:1001")
        d.show([ScriptedFace(track: 2, vector: Self.ada)], for: 2)
        #expect(d.events.decisions.last?.type == "access.granted")
        #expect(d.releases == 1)
    }

    /// A camera that stops delivering is a fault, with the door's fallback in words; frames
    /// again clear it.
    @Test func aSilentLiveCameraIsAFaultUntilFramesReturn() throws {
        let d = try Self.door("lobby", at: "08:30")
        d.camera.continuous = true
        d.run(for: 1)
        d.camera.on = false
        d.run(for: 6)
        #expect(d.door.cameraFault == .noSignal)
        #expect(d.events.events.contains { $0.type == "system.camera_fault" && $0.detail?["fault"] == "no_signal" })
        // The line says how much it asks of a guard; the log level follows from that, not the words.
        #expect(d.events.lines.contains { $0.text.hasPrefix("CAMERA FAULT") && $0.severity == .alarm })
        d.camera.on = true
        d.run(for: 1)
        #expect(d.door.cameraFault == nil && d.events.events.last { $0.kind == .system }?.type == "system.camera_recovered")
        #expect(d.faces.resets == 2)
    }
}

/// How a track's votes add up, on its own.
@Suite("track evidence")
struct TrackEvidenceTests {
    @Test func agreementNeedsFreshVotesAndAWeightedMajority() {
        var ev = TrackEvidence()
        ev.identify(named: .some(7), weight: 1)
        ev.identify(named: nil, weight: 1)
        ev.identify(named: nil, weight: 1)
        #expect(ev.identification(framesRequired: 3, maximumFrames: 6) == .open)   // one fresh vote, repeated
        ev.identify(named: .some(7), weight: 1)
        ev.identify(named: .some(7), weight: 1)
        #expect(ev.identification(framesRequired: 3, maximumFrames: 6) == .agreed(person: 7))
    }

    @Test func aHeavyDissentKeepsItOpenUntilTheLastFrame() {
        var ev = TrackEvidence()
        for _ in 0..<3 { ev.identify(named: .some(7), weight: 1) }
        ev.identify(named: .some(Int64?.none), weight: 4)   // one good look named nobody
        #expect(ev.identificationInDoubt)
        #expect(ev.identification(framesRequired: 3, maximumFrames: 6) == .open)
        ev.identify(named: .some(8), weight: 1)
        ev.identify(named: .some(8), weight: 1)
        #expect(ev.identification(framesRequired: 3, maximumFrames: 6) == .exhausted)
        #expect(ev.namedFrames == 5 && ev.leader?.person == 7)
    }

    @Test func nothingToRepeatIsNoVote() {
        var ev = TrackEvidence()
        #expect(!ev.verify(match: nil, weight: 1) && ev.verified.isEmpty)
        #expect(ev.verify(match: true, weight: 1) && ev.verify(match: nil, weight: 1))
        #expect(ev.verified.map(\.fresh) == [true, false] && ev.matchedFrames == 2)
        #expect(ev.verification(framesRequired: 2, maximumFrames: 4) == .open)
    }
}
