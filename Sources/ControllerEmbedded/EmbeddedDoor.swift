import Audit
import Capture
import Controller
import DoorIO
import FaceKit
import Foundation
import Matching
import Policy
import WardenCore

/// One door of a site on simulated GPIO and a manual clock, wired to the in-memory twins:
/// the real door loop, policy engine, matcher and door state machine, with people, faces
/// and the audit log in memory. No models, no files.
public final class EmbeddedDoor {
    public let clock: ManualClock
    public let gpio: SimulatedGPIO
    public let pinMap: PinMap
    public let identity = InMemoryIdentity()
    public let events = RecordedDoorEvents()
    public let faces = ScriptedFaces()
    public let camera: ScriptedCamera
    public let access: AccessDesk
    public let matcher: GalleryMatcher
    public let door: DoorController
    private var nextTemplate: Int64 = 1

    public init(policy: SitePolicy, pinMap: PinMap, door id: String, face: FaceSettings = FaceSettings(), lockout: LockoutSettings = LockoutSettings(),
                start: Date, thresholds: MatchThresholds = .default,
                liveness: LivenessAvailability = LivenessAvailability(loaded: false, problem: "no PAD model in this door's test")) throws {
        clock = ManualClock(start)
        self.pinMap = pinMap
        gpio = SimulatedGPIO(clock: clock, pinMap: pinMap)
        try gpio.setIdleLevels(pinMap, doors: [id])
        guard let pins = pinMap.doors[id], let d = policy.doors[id] else { throw SimulatedReaderError("door \(id) is not in both the policy and the pin map") }
        access = AccessDesk(policy: policy)
        matcher = GalleryMatcher(gallery: Gallery(), thresholds: thresholds)
        camera = ScriptedCamera(name: "\(id)-camera", clock: clock)
        let driver = DoorDriver(id: id, pins: pins, behaviour: DoorBehaviour(strikeTime: d.strikeTime, heldOpenTime: d.heldOpenTime, preAlarm: min(10, d.heldOpenTime / 3)),
                                formats: pinMap.formats(for: id), backend: gpio, clock: clock)
        try driver.start()
        door = DoorController(id: id, driver: driver, camera: camera, face: face, lockout: lockout,
                              ports: DoorPorts(clock: clock, access: access, matcher: matcher, identity: identity, events: events, faces: faces, liveness: liveness))
    }

    /// A person with one template: `vector`, as if enrolled.
    @discardableResult
    public func enroll(_ name: String, vector: [Float], groups: Set<String>, badge: String? = nil) throws -> Int64 {
        let id = try identity.add(name, groups: groups, badge: badge, at: clock.now)
        try matcher.gallery.add(templateID: nextTemplate, personID: id, embedding: try Embedding(raw: vector))
        nextTemplate += 1
        return id
    }

    /// Runs the door for a while in small steps of simulated time.
    public func run(for seconds: TimeInterval, step: TimeInterval = 0.05) {
        clock.run(for: seconds, step: step, door.step)
    }

    /// The camera sees these faces for `seconds`, then nobody.
    public func show(_ inView: [ScriptedFace], for seconds: TimeInterval) {
        faces.inView = inView
        run(for: seconds)
        faces.inView = []
        run(for: 0.2)
    }

    public func swipe(_ badge: String) throws {
        try gpio.presentCard(try BadgeCredential(parsing: badge), door: door.id, pinMap: pinMap, advance: clock.advance(by:), afterEachBit: door.step)
        run(for: 0.1)
    }

    /// Times the door's relay was driven to release the lock.
    public var releases: Int {
        guard let pins = pinMap.doors[door.id], let relay = pins.relay else { return 0 }
        // Fail-secure strikes release when energised; fail-safe maglocks when de-energised.
        let releasedLevel = pins.failMode == .secure
        return gpio.history(relay).filter { $0.high == releasedLevel }.count
    }
}
