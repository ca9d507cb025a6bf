import Capture
import FaceKit
import Foundation
import Testing
@testable import Controller

/// Badge and face: the face must be seen after the badge is read. On a slow board a frame
/// captured earlier may still be being recognised when the next badge comes; whoever it
/// shows (the previous person, say) is no evidence that the badge holder is at the door.
/// Seen in the HIL VM at 3 s a frame: a stranger's badge attempt granted on the frames of
/// the person before.
@Suite("Badge evidence is captured after the badge", .serialized, .enabled(if: Paths.haveFixtures, "needs the fixtures and models from `make setup`"))
struct BadgeEvidenceTests {
    /// Two agreeing frames decide, as at the HIL bench's server room.
    static let hilFace = FaceSettings(framesRequired: 2, maximumFrames: 4)

    /// Two recognised frames of `photo`, captured `secondsFromNow` (and 0.2 s later) on the
    /// site's clock, through a pipeline of their own, as a worker would hand them back.
    func observations(_ r: Rig, _ photo: String, secondsFromNow: TimeInterval) throws -> [FaceObservation] {
        let image = try RGBImage(contentsOf: photo, limits: ImageLimits(strict: false)).letterboxed(width: 640, height: 480, padding: .edge)
        let pipeline = FacePipeline(options: DetectionOptions(upsample: 0), framesRequired: 2, scan: .wholeFrame)
        let start = r.s.clock.now.addingTimeInterval(secondsFromNow)
        return try (0..<2).map { i in
            let o = try pipeline.process(Frame(image: image, at: start.addingTimeInterval(0.2 * Double(i)), sequence: i), engine: r.s.engine)
            #expect(o.faces.count == 1 && o.faces[0].embedding != nil)
            return o
        }
    }

    func serverRoom(_ r: Rig) throws -> DoorController {
        try #require(r.s.site.doorControllers.first { $0.id == "server-room" })
    }

    @Test func framesFromBeforeTheBadgeAreNotEvidence() throws {
        let r = try Rig(at: "10:00", face: Self.hilFace)
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["it-admins"], badge: "12:1001")
        // The holder's face, captured 5 s before the badge is read, comes back after it.
        let early = try observations(r, Paths.fixture("obama2.jpg"), secondsFromNow: 0)
        r.s.run(for: 5)
        try r.s.swipe("server-room", badge: "12:1001")
        let door = try serverRoom(r)
        for o in early { door.consider(o) }
        #expect(try r.decisions().isEmpty)
        #expect(r.releases("server-room") == 0)
        // The same face captured after the read is evidence: granted.
        for o in try observations(r, Paths.fixture("obama2.jpg"), secondsFromNow: 0.1) { door.consider(o) }
        let d = try r.decisions()
        #expect(d.map(\.type) == ["access.granted"] && d.first?.face?.frames == 2, "\(d.map { "\($0.type) \($0.reasons ?? []) \($0.at)" }) \(r.s.clock.now)")
        r.s.finish()
    }

    @Test func framesFromAfterTheWindowAreNotEvidence() throws {
        let r = try Rig(at: "10:00", face: FaceSettings(framesRequired: 2, badgeWindow: 10))
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["it-admins"], badge: "12:1001")
        try r.s.swipe("server-room", badge: "12:1001")
        let door = try serverRoom(r)
        for o in try observations(r, Paths.fixture("obama2.jpg"), secondsFromNow: 11) { door.consider(o) }
        #expect(try r.decisions().isEmpty)
        #expect(r.releases("server-room") == 0)
        r.s.finish()
    }

    /// The same class at a face-only door: frames captured before the camera went silent and
    /// came back were seen by a camera that did not watch all along.
    @Test func framesFromBeforeACameraGapAreNotEvidence() throws {
        let r = try Rig(at: "08:30", face: Self.hilFace)
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["staff"], badge: nil)
        let early = try observations(r, Paths.fixture("obama2.jpg"), secondsFromNow: 0)
        r.s.run(for: 1)
        let lobby = try #require(r.s.site.doorControllers.first { $0.id == "lobby" })
        lobby.setCameraFault(.noSignal)
        r.s.run(for: 1)
        lobby.setCameraFault(nil)
        for o in early { lobby.consider(o) }
        #expect(try r.decisions().isEmpty)
        for o in try observations(r, Paths.fixture("obama2.jpg"), secondsFromNow: 0.1) { lobby.consider(o) }
        #expect(try r.decisions().map(\.type) == ["access.granted"])
        r.s.finish()
    }
}
