import Audit
import Capture
import DoorIO
import FaceKit
import Foundation
import Matching
import Policy
import PresentationAttack
import Storage
import WardenCore

/// A whole site on simulated hardware and a manual clock: real face engine, real policy,
/// real SQLite store and audit log; GPIO from `SimulatedGPIO`; cameras that show whatever
/// images the scene gives them. The demo runs on it, and so do the end-to-end tests.
public final class SimulatedSite {
    public let clock: ManualClock
    public let gpio: SimulatedGPIO
    public let pinMap: PinMap
    public let db: WardenDatabase
    public let auditStore: AuditStore
    public let audit: AuditLog
    public let site: SiteController
    public let cameras: [String: SceneCamera]
    public let engine: FaceEngine
    public let frameSize: (width: Int, height: Int) = (640, 480)

    /// `secondsPerFrame`: a slow board. Every frame recognised costs that much time on the
    /// manual clock, as detection and embedding would on a board that slow.
    public init(home: String, policy: SitePolicy, pinMap: PinMap, models: ModelSet, start: Date,
                face: FaceSettings = FaceSettings(), lockout: LockoutSettings = LockoutSettings(), secondsPerFrame: TimeInterval? = nil,
                liveness: LivenessDetector? = nil, livenessProblem: String? = nil, secondModel: SiteController.SecondModel? = nil) throws {
        clock = ManualClock(start)
        self.pinMap = pinMap
        gpio = SimulatedGPIO(clock: clock, pinMap: pinMap)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        db = try WardenDatabase(home: home)
        auditStore = try AuditStore(home: home)
        audit = AuditLog(store: auditStore)
        engine = try FaceEngine(models: models)
        site = SiteController(policy: policy, db: db, audit: audit, faceEngine: engine, gallery: try Gallery.load(from: db),
                              thresholds: .default, clock: clock, liveness: liveness, livenessProblem: livenessProblem)
        if let secondsPerFrame { site.inlineInferenceDone = { [clock] in clock.advance(by: secondsPerFrame) } }
        if let secondModel { site.useSecondModel(secondModel, gallery: try Gallery.load(from: db, modelID: secondModel.modelID)) }
        var cams: [String: SceneCamera] = [:]
        try gpio.setIdleLevels(pinMap)
        for (id, pins) in pinMap.doors.sorted(by: { $0.key < $1.key }) where policy.doors[id] != nil {
            let cam = SceneCamera(name: "\(id)-camera")
            cams[id] = cam
            let d = policy.doors[id]!
            let driver = DoorDriver(id: id, pins: pins, behaviour: DoorBehaviour(strikeTime: d.strikeTime, heldOpenTime: d.heldOpenTime, preAlarm: min(10, d.heldOpenTime / 3)),
                                    formats: pinMap.formats(for: id), backend: gpio, clock: clock)
            site.addDoor(.init(id: id, driver: driver, camera: cam, face: face, lockout: lockout))
        }
        cameras = cams
        if let fire = pinMap.fireAlarm {
            try gpio.drive(fire, high: fire.activeLow)  // idle: not in alarm
            site.attachFireAlarm(fire, backend: gpio)
        }
        site.record(AuditEvent(at: clock.now, kind: .system, type: "system.start", detail: ["mode": "simulated"], siteTimeZone: policy.timeZone))
    }

    /// Adds a person, enrolls one photo, sets groups and a badge; the gallery follows.
    @discardableResult
    /// `quality`: the enrollment gates (a test may enroll a sample that is not a good photo).
    /// `secondModel` false: enrolled for dlib's model only, as before the second model was
    /// installed.
    public func enroll(name: String, photo: String, groups: [String], badge: String?, by op: Operator = Operator("demo-admin"),
                       quality: EnrollmentQualityPolicy = .default, secondModel: Bool = true) throws -> Person {
        let person = try db.people.add(Person(displayName: name, at: clock.now), by: op)
        var gallery = site.gallery, secondGallery = site.secondGallery
        let enroller = Enroller(engine: engine, db: db, quality: quality, detection: DetectionOptions(upsample: 1), second: secondModel ? site.secondRecognizer : nil)
        let outcome = try enroller.enroll(photo: photo, for: person, useLargest: true, force: false, by: op, gallery: &gallery, secondGallery: &secondGallery)
        guard case .enrolled(let t, _) = outcome else { throw EnrollmentError("\(photo) was not enrolled: \(outcome)") }
        site.gallery = gallery
        site.secondGallery = secondGallery
        site.record(AuditEvent.admin("admin.enroll", operator: op.name, subject: "person:\(person.id!)", detail: ["template": String(t.id!), "source": t.sourceName], at: clock.now))
        for g in groups { try db.access.addMember(person.id!, to: g, by: op) }
        if let badge {
            _ = try db.badges.issue(try BadgeCredential(parsing: badge), to: person.id!, by: op, at: clock.now)
            site.record(AuditEvent.admin("admin.badge_issue", operator: op.name, subject: "person:\(person.id!)", detail: ["badge": badge], at: clock.now))
        }
        return person
    }

    /// Runs the site for a while in small steps of simulated time.
    public func run(for seconds: TimeInterval, step: TimeInterval = 0.05) {
        clock.run(for: seconds, step: step, site.step)
    }

    /// The door's camera sees these photos, framed as the camera would, `frames` times
    /// at `fps`; the site runs until they have been shown.
    /// `asCaptured`: the photo is already a camera frame (its own size and framing); else it
    /// is fitted into the camera's frame size, its edges repeated outward.
    public func show(_ door: String, photo: String, frames: Int = 6, fps: Double = 5, asCaptured: Bool = false) throws {
        let image = try RGBImage(contentsOf: photo, limits: ImageLimits(strict: false))
        show(door, images: Array(repeating: image, count: frames), name: photo, fps: fps, asCaptured: asCaptured)
    }

    /// The door's camera sees these images in turn, each fitted into the camera's frame with
    /// its edges repeated outward (black bars would look like a screen's bezel to a
    /// presentation-attack model), or `asCaptured`.
    public func show(_ door: String, images: [RGBImage], name: String = "scene", fps: Double = 5, asCaptured: Bool = false) {
        let framed = asCaptured ? images : images.map { $0.letterboxed(width: frameSize.width, height: frameSize.height, padding: .edge) }
        cameras[door]?.current = ImageSequenceSource(name: name, images: framed, fps: fps, clock: clock)
        run(for: Double(framed.count) / fps + 0.2)
        cameras[door]?.current = nil
    }

    /// Presents a card at the door's reader: its bits are clocked onto D0/D1.
    public func swipe(_ door: String, badge: String) throws {
        try gpio.presentCard(try BadgeCredential(parsing: badge), door: door, pinMap: pinMap, advance: clock.advance(by:), afterEachBit: site.step)
        run(for: 0.1)
    }

    public func setContact(_ door: String, open: Bool) throws {
        guard let c = pinMap.doors[door]?.contact else { return }
        try gpio.drive(c, high: open)
        run(for: 0.1)
    }

    /// The fire panel's contact.
    public func setFireAlarm(_ active: Bool) throws {
        guard let f = pinMap.fireAlarm else { return }
        try gpio.drive(f, high: active != f.activeLow)
        run(for: 0.1)
    }

    public func pressExit(_ door: String) throws {
        guard let e = pinMap.doors[door]?.exit else { return }
        try gpio.drive(e, high: false)
        run(for: 0.05)
        try gpio.drive(e, high: true)
        run(for: 0.05)
    }

    /// Times the relay line went active (released) and inactive.
    public func relayHistory(_ door: String) -> [(at: Date, high: Bool)] {
        guard let r = pinMap.doors[door]?.relay else { return [] }
        return gpio.history(r)
    }

    public func finish(reason: String = "demo finished") {
        site.shutdown(reason: reason)
        audit.close()
    }
}
