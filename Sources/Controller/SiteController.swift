import Audit
import Capture
import Crypto
import DoorIO
import FaceKit
import Foundation
import Integrations
import Matching
import Policy
import PresentationAttack
import Storage
import WardenCore

/// The running site: every door's controller, the shared site state (positions,
/// pending two-person and escort authentications, modes), the face engine and gallery,
/// the audit log. Single-threaded: `step` runs each door in turn. (A worker pool per camera
/// is the planned next step; see docs/architecture.md.)
public final class SiteController: DoorEventSink, GrantedFaceLearning {
    /// The policy and the doors' shared state, which every door asks.
    public let access: AccessDesk
    public var policy: SitePolicy {
        get { access.policy }
        set { access.policy = newValue }
    }
    public var engine: PolicyEngine { access.engine }
    public var state: SiteState {
        get { access.state }
        set { access.state = newValue }
    }
    public let db: WardenDatabase
    public let audit: AuditLog
    public let faceEngine: FaceEngine
    /// Presentation-attack detection, loaded when some door may require liveness; nil with
    /// `livenessProblem` saying why (a missing model file, its source and its sum).
    public let liveness: LivenessDetector?
    public let livenessProblem: String?
    /// Its first line, for the timeline, the status and decision notes.
    public let livenessProblemSummary: String?
    /// The galleries and thresholds every door matches against.
    public let matcher: GalleryMatcher
    public var gallery: Gallery {
        get { matcher.gallery }
        set { matcher.gallery = newValue }
    }
    /// The second model's templates, beside `gallery`'s dlib ones.
    public var secondGallery: Gallery {
        get { matcher.secondGallery }
        set { matcher.secondGallery = newValue }
    }
    public var thresholds: MatchThresholds {
        get { matcher.thresholds }
        set { matcher.thresholds = newValue }
    }
    /// The doors read people, badges and groups through this.
    let identity: DatabaseIdentity
    /// Each door camera's newest frame, lent to `warden enroll --camera DOOR`.
    public let latestFrames = LatestFrames()
    public let clock: any WardenClock
    private var doors: [DoorController] = []
    var doorControllers: [DoorController] { doors }
    public private(set) var entries: [TimelineEntry] = []
    public var onTimeline: ((TimelineEntry) -> Void)?
    /// Called after each door step that recognised faces inline (simulated sites): a
    /// simulated board advances its manual clock here by what a frame would cost on a slow
    /// one, so tests can run a 12-second-per-frame board without waiting 12 seconds.
    public var inlineInferenceDone: (() -> Void)?

    public struct DoorSetup {
        public var id: String
        public var driver: DoorDriver
        public var camera: (any FrameSource)?
        public var face: FaceSettings
        public var lockout: LockoutSettings
        /// Run this door's face inference on a thread of its own, with its own engine.
        public var dedicatedInference: Bool
        /// With dedicated inference, 2 detects each frame on a second thread while the last
        /// one embeds (`InferenceWorker.stages(cameras:)` says whether the board has the cores).
        public var inferenceStages: Int
        public init(id: String, driver: DoorDriver, camera: (any FrameSource)?, face: FaceSettings = FaceSettings(), lockout: LockoutSettings = LockoutSettings(),
                    dedicatedInference: Bool = false, inferenceStages: Int = 1) {
            self.id = id; self.driver = driver; self.camera = camera; self.face = face; self.lockout = lockout; self.dedicatedInference = dedicatedInference
            self.inferenceStages = inferenceStages
        }
    }


    /// The second recognition model, when installed: how to make one recognizer per
    /// inference thread (its network keeps state between passes), and how its distances fuse
    /// with dlib's. Without it, doors decide on dlib alone, as before.
    public struct SecondModel: Sendable {
        public let modelID: String
        public let make: @Sendable () throws -> any FaceRecognizer
        public let matching: FusedMatching
        public init(modelID: String, make: @escaping @Sendable () throws -> any FaceRecognizer, matching: FusedMatching) {
            self.modelID = modelID; self.make = make; self.matching = matching
        }
    }
    public private(set) var secondModel: SecondModel?
    /// The main loop's own second recognizer (doors that recognise inline).
    private(set) var secondRecognizer: (any FaceRecognizer)?

    /// Installs the second model before the doors are added. A recognizer that cannot be
    /// made leaves the site on dlib alone, and says why.
    public func useSecondModel(_ model: SecondModel, gallery: Gallery) {
        do {
            secondRecognizer = try model.make()
            secondModel = model
            matcher.secondGallery = gallery
            matcher.fusion = model.matching
        } catch {
            secondProblem = "the second model could not load (\(error)); faces are decided by dlib's model alone"
            timeline("site", secondProblem!, severity: .warning)
        }
    }
    /// Why the second model is not in use, when it is not (set by the caller when its files
    /// are missing, or here when it would not load).
    public var secondProblem: String?

    public init(policy: SitePolicy, db: WardenDatabase, audit: AuditLog, faceEngine: FaceEngine, gallery: Gallery,
                thresholds: MatchThresholds, clock: any WardenClock, liveness: LivenessDetector? = nil, livenessProblem: String? = nil) {
        self.access = AccessDesk(policy: policy); self.db = db; self.audit = audit
        self.faceEngine = faceEngine; self.matcher = GalleryMatcher(gallery: gallery, thresholds: thresholds); self.clock = clock
        self.identity = DatabaseIdentity(db: db)
        self.liveness = liveness
        self.livenessProblem = liveness == nil ? (livenessProblem ?? "no presentation-attack detector was loaded") : nil
        self.livenessProblemSummary = self.livenessProblem?.components(separatedBy: "\n").first
    }

    /// Starts a door's hardware. A door whose lines cannot be had stays out of service
    /// (its relay untouched, so locked by the wiring) and the reason is logged.
    @discardableResult
    public func addDoor(_ setup: DoorSetup) -> Bool {
        if let d = policy.doors[setup.id], d.failMode.rawValue != setup.driver.pins.failMode.rawValue {
            let why = "the policy says fail-\(d.failMode.rawValue) but the pin map wires it fail-\(setup.driver.pins.failMode.rawValue); fix one of them"
            record(AuditEvent(at: clock.now, kind: .system, type: "system.door_unavailable", door: setup.id, detail: ["reason": why], siteTimeZone: policy.timeZone))
            timeline(setup.id, "OUT OF SERVICE: \(why)", severity: .alarm)
            return false
        }
        guard policy.doors[setup.id] != nil else {
            timeline(setup.id, "OUT OF SERVICE: the policy has no door '\(setup.id)'", severity: .alarm)
            return false
        }
        do {
            try setup.driver.start()
        } catch {
            record(AuditEvent(at: clock.now, kind: .system, type: "system.door_unavailable", door: setup.id, detail: ["reason": error.description],
                              siteTimeZone: policy.timeZone))
            timeline(setup.id, "OUT OF SERVICE: \(error.description)", severity: .alarm)
            return false
        }
        let pipeline = FacePipeline(options: setup.face.detection, framesRequired: setup.face.framesRequired, scan: setup.face.scan)
        var faces: (any DoorFaces)? = nil
        if setup.camera != nil {
            faces = InlineFaces(pipeline: pipeline, engine: faceEngine, liveness: liveness, second: secondRecognizer,
                                afterFrame: { [weak self] in self?.inlineInferenceDone?() })
        }
        if setup.dedicatedInference, setup.camera != nil {
            do {
                let pad = try liveness.map { try LivenessDetector(directory: $0.directory, framing: $0.framing) }
                let second = try secondModel.map { try $0.make() }
                faces = ThreadedFaces(worker: InferenceWorker(engine: try FaceEngine(models: faceEngine.models), pipeline: pipeline, liveness: pad,
                                                              second: second, stages: setup.inferenceStages))
            } catch {
                timeline(setup.id, "face engine for this door's camera could not load (\(error)); inference runs on the main loop", severity: .warning)
            }
        }
        if let d = policy.doors[setup.id], engine.mayRequireLiveness(d), let why = livenessProblem {
            let fallback = d.cameraFallback == .badge ? "a badge alone is accepted (camera_fallback: badge)" : "faces are refused"
            record(AuditEvent(at: clock.now, kind: .system, type: "system.liveness_unavailable", door: setup.id,
                              detail: ["reason": why, "fallback": fallback], siteTimeZone: policy.timeZone))
            timeline(setup.id, "FACE FACTOR OUT OF SERVICE while liveness is required: \(livenessProblemSummary ?? why); \(fallback)", severity: .alarm)
        }
        let ports = DoorPorts(clock: clock, access: access, matcher: matcher, identity: identity, events: self, faces: faces,
                              liveness: LivenessAvailability(loaded: liveness != nil, problem: livenessProblemSummary), learning: self,
                              latestFrames: latestFrames, modesChanged: { [weak self] in self?.doorModesChanged() })
        doors.append(DoorController(id: setup.id, driver: setup.driver, camera: setup.camera, face: setup.face, lockout: setup.lockout, ports: ports))
        return true
    }

    private var fireAlarmInput: (any GPIOInput)?

    /// Watches the fire panel's contact: while it is active, every fail-safe door stands
    /// released (the policy's emergency release). A line that cannot be had is logged; the
    /// fire panel's own hard-wired release still works (hardware/README.md).
    public func attachFireAlarm(_ spec: LineSpec, backend: any GPIOBackend) {
        do {
            let line = try backend.input(spec, consumer: "warden:fire-alarm")
            fireAlarmInput = line
            if try line.readActive() { setFireAlarm(true) }
        } catch {
            record(AuditEvent(at: clock.now, kind: .system, type: "system.fire_alarm_input_unavailable", detail: ["reason": "\(error)"], siteTimeZone: policy.timeZone))
            timeline("site", "fire alarm input unavailable: \(error)", severity: .alarm)
        }
    }

    func setFireAlarm(_ active: Bool) {
        guard state.fireAlarm != active else { return }
        state.fireAlarm = active
        record(AuditEvent(at: clock.now, kind: .system, type: active ? "system.fire_alarm" : "system.fire_alarm_cleared", siteTimeZone: policy.timeZone))
        timeline("site", active ? "FIRE ALARM: fail-safe doors released" : "fire alarm cleared", severity: active ? .alarm : .info)
    }

    public func step() {
        for e in limiter.flush(now: clock.now) { audit.record(e) }
        if let f = fireAlarmInput, let edges = try? f.waitForEdges(timeout: 0), let last = edges.last { setFireAlarm(last.becameActive) }
        for d in doors { d.step() }
    }

    /// The earliest time any door has timed work to do.
    public var nextDeadline: Date? { doors.compactMap(\.nextDeadline).min() }

    /// Every exit path: relays to their safe state, lines released, the log flushed.
    public func shutdown(reason: String) {
        for d in doors { d.driver.safeStop(); d.ports.faces?.stop(); d.camera?.stop() }
        fireAlarmInput?.release()
        for e in limiter.flush(now: clock.now, force: true) { audit.record(e) }
        record(AuditEvent(at: clock.now, kind: .system, type: "system.stop", detail: ["reason": reason], siteTimeZone: policy.timeZone))
        audit.flush(timeout: 10)
    }

    /// After a grant on a face: the template-update rules may learn it.
    public func granted(person: Person, probe: Embedding, second: Embedding?, face: Face, door: String, live: Bool, badgeMatched: Bool?) {
        considerTemplateUpdate(person: person, probe: probe, face: face, door: door, live: live, badgeMatched: badgeMatched)
        considerSecondTemplate(person: person, probe: probe, second: second, face: face, door: door, live: live, badgeMatched: badgeMatched)
    }

    /// A person admitted on dlib who holds no template of the second model gains one from
    /// this face, when the pass was confident (well inside the 1:1 threshold of their
    /// enrolled dlib templates, by the template-update margin) and vouched for: liveness
    /// confirmed, or the person's own badge presented with it. Warden keeps no photos, so
    /// this (or re-enrollment) is how existing people get the second template. Audited.
    func considerSecondTemplate(person: Person, probe: Embedding, second: Embedding?, face: Face, door: String, live: Bool, badgeMatched: Bool?) {
        guard !templatesFromServer, let secondModel, let second, second.modelID == secondModel.modelID, let pid = person.id,
              secondGallery.templates(of: pid).isEmpty, live || badgeMatched == true else { return }
        do {
            let enrolled = try db.templates.forPerson(pid).filter { $0.modelID == probe.modelID && $0.createdBy != TemplateUpdateRule.creator }
                .map { try db.templates.embedding(of: $0).values }
            guard let d = enrolled.map({ DistanceMetric.euclidean.distance(probe.values, $0) }).min(),
                  d <= thresholds.verify - templateUpdate.margin else { return }
            let op = Operator(Self.secondTemplateCreator)
            let pose = FacePose(face.landmarks)
            let data = Data(second.serialized())
            let t = try db.templates.add(FaceTemplate(
                personId: pid, embedding: data, modelID: second.modelID, interEyeDistance: face.landmarks.interEyeDistance, sharpness: 0,
                yaw: pose.yaw, roll: pose.roll, detectionScore: face.score, sourceSHA256: Hex.encode(SHA256.hash(data: data)),
                sourceName: String(format: "second model at door %@ (dlib %.3f from the enrolled templates)", door, d),
                createdBy: op.name, createdAt: clock.now), by: op)
            try secondGallery.add(templateID: t.id!, personID: pid, embedding: second)
            record(AuditEvent(at: clock.now, kind: .system, type: "system.second_template_added", door: door, personID: pid, personName: person.displayName,
                              detail: ["template": String(t.id!), "model": second.modelID, "dlib_distance": String(format: "%.3f", d),
                                       "vouched_by": live ? "liveness" : "badge"], siteTimeZone: policy.timeZone))
            timeline(door, String(format: "#%lld %@ gained a %@ template (#%lld) at this pass (dlib %.3f)", pid, person.displayName, second.modelID, t.id!, d))
        } catch {
            record(AuditEvent(at: clock.now, kind: .system, type: "system.template_update_failed", door: door, personID: pid,
                              detail: ["reason": "\(error)", "model": second.modelID, "effect": "no second-model template was added; the decision stands"],
                              siteTimeZone: policy.timeZone))
        }
    }
    /// Who added a second-model template at a door, in the store and the audit log.
    public static let secondTemplateCreator = "warden:second-model"

    private var limiter = EventRateLimiter()
    /// Access decisions made since start (what `warden run --stop-after-decisions` counts).
    public private(set) var decisionCount = 0

    /// Into the audit log, through the flood limiter for door, reader and camera events.
    public func record(_ event: AuditEvent) {
        if event.kind == .decision { decisionCount += 1 }
        for e in limiter.admit(event) { audit.record(e) }
    }

    public func timeline(_ door: String, _ text: String, severity: TimelineSeverity = .info) {
        let e = TimelineEntry(at: clock.now, door: door, text: text, severity: severity)
        entries.append(e)
        onTimeline?(e)
    }

    public func doorState(_ id: String) -> DoorStateMachine? { doors.first { $0.id == id }?.driver.machine }

    // MARK: Template update

    /// Off unless the site file turns it on (`template_update:`).
    public var templateUpdate = TemplateUpdateRule()

    /// A fleet controller's identity database is a replica of the server's: its template
    /// ids are the server's, and the next change from the server overwrites or deletes
    /// whatever the board wrote itself. So a fleet controller adds no template at a door,
    /// neither a template update nor a second-model template; people gain templates by
    /// enrollment at the server (photos, or a capture at a door through the server).
    public var templatesFromServer = false

    /// After a grant: the face may become one more template of the person, by the rule
    /// (confident against the enrolled templates, live, badge matched where there is one,
    /// once a day, bounded). Every step is audited; a failure costs the update only.
    func considerTemplateUpdate(person: Person, probe: Embedding, face: Face, door: String, live: Bool, badgeMatched: Bool?) {
        guard templateUpdate.enabled, !templatesFromServer, let pid = person.id else { return }
        do {
            let all = try db.templates.forPerson(pid)
            var enrolled: [[Float]] = [], added: [TemplateUpdateRule.Added] = []
            for t in all {
                let v = try db.templates.embedding(of: t).values
                if t.createdBy == TemplateUpdateRule.creator { added.append(.init(templateID: t.id!, vector: v, at: t.createdAt)) } else { enrolled.append(v) }
            }
            guard case .add(let replacing, let distance) = templateUpdate.decide(probe: probe.values, enrolled: enrolled, added: added, now: clock.now,
                                                                                 threshold: thresholds.verify, live: live, badgeMatched: badgeMatched) else { return }
            let op = Operator(TemplateUpdateRule.creator)
            let pose = FacePose(face.landmarks)
            let data = Data(probe.serialized())
            // Sharpness is measured on the aligned chip, which the door does not keep: 0, unmeasured.
            let t = try db.templates.add(FaceTemplate(
                personId: pid, embedding: data, modelID: probe.modelID, interEyeDistance: face.landmarks.interEyeDistance, sharpness: 0,
                yaw: pose.yaw, roll: pose.roll,
                detectionScore: face.score, sourceSHA256: Hex.encode(SHA256.hash(data: data)),
                sourceName: String(format: "update at door %@ (%.3f from the enrolled templates)", door, distance), createdBy: op.name, createdAt: clock.now), by: op)
            try gallery.add(templateID: t.id!, personID: pid, embedding: probe)
            gallery.markAdded(templateID: t.id!)
            if let old = replacing {
                try db.templates.delete(old, by: op)
                _ = gallery.remove(templateID: old)
            }
            record(AuditEvent(at: clock.now, kind: .system, type: "system.template_update", door: door, personID: pid, personName: person.displayName,
                              detail: ["template": String(t.id!), "distance": String(format: "%.3f", distance), "replaced": replacing.map(String.init) ?? "",
                                       "undo": "warden person undo-updates \(pid)"], siteTimeZone: policy.timeZone))
            timeline(door, String(format: "template update: #%lld %@ gained template #%lld (%.3f from the enrolled ones)%@", pid, person.displayName, t.id!, distance,
                                  replacing.map { ", replacing #\($0)" } ?? ""))
        } catch {
            record(AuditEvent(at: clock.now, kind: .system, type: "system.template_update_failed", door: door, personID: pid,
                              detail: ["reason": "\(error)", "effect": "no template was added; the decision stands"], siteTimeZone: policy.timeZone))
        }
    }

    // MARK: Remote commands and the operators' door modes

    /// Where the operators' door modes are kept across restarts (set by `warden run`).
    public var doorModeFile: DoorModeFile?

    /// A remote command that passed the broker-side checks: the door's controller has the
    /// policy engine decide it. A door that is not running here is refused, and recorded.
    public func remote(_ command: RemoteCommand) {
        guard let d = doors.first(where: { $0.id == command.door }) else {
            record(AuditEvent(at: clock.now, kind: .admin, type: "admin.remote_command_refused", door: command.door, result: "refused",
                              operator: "mqtt:\(command.requestedBy)",
                              detail: ["channel": "mqtt", "topic": command.topic, "command": command.action.rawValue, "requested_by": command.requestedBy,
                                       "note": "door \(command.door) is out of service on this controller"], siteTimeZone: policy.timeZone))
            timeline(command.door, "REFUSED remote \(command.action.rawValue): the door is out of service here", severity: .notice)
            return
        }
        d.remote(command)
    }

    /// The modes changed by an operator: kept on disk. A failed write keeps the mode in
    /// force here and says so: the next restart would not know of it.
    func doorModesChanged() {
        guard let file = doorModeFile else { return }
        do { try file.write(state.doorModes) } catch {
            record(AuditEvent(at: clock.now, kind: .system, type: "system.state_write_failed",
                              detail: ["file": file.path, "reason": "\(error)",
                                       "effect": "the door modes stay in force now; a restart before the next successful write would not restore them"],
                              siteTimeZone: policy.timeZone))
            timeline("site", "ALARM cannot keep the door modes in \(file.path): \(error)", severity: .alarm)
        }
    }

    /// At start: the lockdowns in force when the controller stopped. An unreadable file
    /// cannot say which doors were locked down, so every door that accepts a remote
    /// lockdown starts locked down, until an operator clears it.
    public func restoreDoorModes(from file: DoorModeFile) {
        doorModeFile = file
        let modes: [String: DoorMode]
        do { modes = try file.read() } catch {
            let doors = policy.doors.values.filter(\.remote.lockdown).map(\.id).sorted()
            for id in doors { state.doorModes[id] = .locked }
            record(AuditEvent(at: clock.now, kind: .system, type: "system.state_unreadable",
                              detail: ["file": file.path, "reason": error.description,
                                       "effect": doors.isEmpty ? "no door accepts a remote lockdown; none was locked down"
                                           : "locked down until cleared: \(doors.joined(separator: ", "))"], siteTimeZone: policy.timeZone))
            timeline("site", "ALARM the door-mode file cannot be read (\(error)); " + (doors.isEmpty ? "no door accepts a remote lockdown" : "locked down until cleared: \(doors.joined(separator: ", "))"), severity: .alarm)
            return
        }
        for (id, mode) in modes.sorted(by: { $0.key < $1.key }) where policy.doors[id] != nil {
            state.doorModes[id] = mode
            record(AuditEvent(at: clock.now, kind: .system, type: "system.door_mode_restored", door: id, detail: ["mode": mode.rawValue, "file": file.path],
                              siteTimeZone: policy.timeZone))
            timeline(id, "door mode \(mode.rawValue) restored from before the restart")
        }
    }
}

/// Remote commands on their way from the broker's thread to the door loop: bounded, so a
/// flood waits nowhere but is refused at the broker side.
public final class RemoteCommandInbox: @unchecked Sendable {
    public static let capacity = 16
    private let lock = NSLock()
    private var waiting: [RemoteCommand] = []
    public init() {}
    /// False: full; the command is refused (and recorded) by the caller.
    public func offer(_ c: RemoteCommand) -> Bool {
        lock.withLock { guard waiting.count < Self.capacity else { return false }; waiting.append(c); return true }
    }
    public func take() -> [RemoteCommand] { lock.withLock { defer { waiting.removeAll() }; return waiting } }
}

/// What `warden status` shows.
public struct SiteStatus: Codable, Sendable {
    public struct DoorStatus: Codable, Sendable {
        public var id: String; public var mode: String; public var lockReleased: Bool; public var contactOpen: Bool
        public var alarm: Bool; public var cameraFault: String?
        /// Seconds from a frame's capture to its result, when faces are recognised here.
        public var inferenceLagSeconds: Double?
        /// Recognition runs slower than this door's settings can work with (see
        /// `system.inference_lag`).
        public var overloaded: Bool?
        /// Liveness is required here now and cannot run: the face factor is out of service.
        public var faceOutOfService: String?
    }
    public var site: String
    /// The site's time zone: people read every time here in it (`HumanTime`).
    public var timeZone: String? = nil
    public var at: Date
    public var startedAt: Date
    public var doors: [DoorStatus]
    public var auditLog: String
    /// The last timeline lines as people read them (site time with its offset).
    public var recent: [String]
    /// The same lines as data: UTC time, door, text.
    public struct TimelineLine: Codable, Sendable { public var at: Date; public var door: String; public var text: String; public var severity: TimelineSeverity? }
    public var timeline: [TimelineLine]? = nil
    /// The fleet link, on a controller that has joined one (set by `warden run`).
    public var fleet: [String: String]? = nil
    /// The MQTT link, when the site publishes to a broker.
    public var mqtt: [String: String]? = nil
    /// Each OSDP bus: its port, its readers online, and what it rejected (set by `warden run`).
    public var osdp: [[String: String]]? = nil
    /// The face models deciding: dlib's alone, or dlib's with the second and how many
    /// enrolled people still lack its template (they are decided on dlib alone until a
    /// confident door pass or a re-enrollment gives them one).
    public var faceModels: [String: String]? = nil
}

extension SiteController {
    public func status(startedAt: Date) -> SiteStatus {
        let tz = policy.timeZone
        let log: String
        switch audit.state {
        case .ok: log = "ok"
        case .degraded(let reason, let since, let pending): log = "log_degraded since \(HumanTime.text(since, in: tz)) (\(pending) events waiting): \(reason)"
        }
        let last = entries.suffix(10)
        var status = SiteStatus(site: policy.name, at: clock.now, startedAt: startedAt,
                          doors: doorControllers.map {
                              SiteStatus.DoorStatus(id: $0.id, mode: $0.driver.machine.mode.rawValue, lockReleased: $0.driver.machine.lockReleased,
                                                    contactOpen: $0.driver.machine.contactOpen, alarm: $0.driver.machine.isAlarm,
                                                    cameraFault: $0.cameraFault?.rawValue, inferenceLagSeconds: $0.inferenceLag,
                                                    overloaded: $0.inferenceLag.map { [w = $0.workableLag] in $0 > w },
                                                    faceOutOfService: $0.liveness.outOfService ? "liveness required; " + (livenessProblemSummary ?? "no PAD model") : nil)
                          },
                          auditLog: log, recent: last.map { "\(HumanTime.text($0.at, in: tz)) [\($0.door)] \($0.text)" },
                          faceModels: faceModelsStatus)
        status.timeZone = tz.identifier
        status.timeline = last.map { SiteStatus.TimelineLine(at: $0.at, door: $0.door, text: $0.text, severity: $0.severity) }
        return status
    }

    /// What `faceModels` in the status says.
    public var faceModelsStatus: [String: String] {
        guard let secondModel else {
            return ["models": gallery.modelID, "second_model": "not in use: " + (secondProblem ?? "not installed")]
        }
        let people = Set(gallery.entries.map(\.personID)), withSecond = Set(secondGallery.entries.map(\.personID))
        var status = ["models": "\(gallery.modelID) + \(secondModel.modelID), fused", "people": String(people.count),
                      "people_without_second_template": String(people.subtracting(withSecond).count)]
        if templatesFromServer {
            status["second_template_from"] = "enrollment at the fleet server (a fleet controller adds no template at a door)"
        }
        return status
    }
}
