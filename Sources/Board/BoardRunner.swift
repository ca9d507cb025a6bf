import Audit
import Capture
import Controller
import DoorIO
import FaceKit
import FleetLink
import FleetProtocol
import Foundation
import Integrations
import Logging
import Matching
import Policy
import PresentationAttack
import Storage
import WardenCore

/// Everything a board's start needs, found and checked by the caller: `warden run` reads
/// them from the site file and the home, and refuses to start on any problem; a test
/// builds them in a temporary home.
///
/// Sendable by hand: the closures are called on the reload thread, one reload at a time, and
/// nothing here changes after the start.
public struct BoardInputs: @unchecked Sendable {
    public var config: SiteConfig
    /// The policy files' site, before the stored grants are merged in.
    public var filePolicy: SitePolicy
    /// Where the policy is read again on a reload.
    public var policyDirectory: String
    public var pinMap: PinMap
    public var models: ModelSet
    public var thresholds: MatchThresholds
    public var metricHead: MetricHead?
    public var db: WardenDatabase
    public var auditStore: AuditStore
    /// Set on a board that has joined a fleet.
    public var membership: FleetMembership?
    /// The data directory: the door modes, the status and frame sockets live there.
    public var home: String
    public var padLocator: PADModelLocator
    /// The second recognition model, or why it is not in use.
    public var secondModel: SiteController.SecondModel?
    public var secondModelProblem: String?
    /// What a reload reads again besides the policy: the thresholds, and a gallery of a
    /// model's templates (in the matching space then in force).
    public var reloadThresholds: @Sendable () throws -> MatchThresholds
    public var loadGallery: @Sendable (WardenDatabase, String) throws -> Gallery

    public init(config: SiteConfig, filePolicy: SitePolicy, policyDirectory: String, pinMap: PinMap, models: ModelSet, thresholds: MatchThresholds,
                metricHead: MetricHead?, db: WardenDatabase, auditStore: AuditStore, membership: FleetMembership?, home: String, padLocator: PADModelLocator,
                secondModel: SiteController.SecondModel?, secondModelProblem: String?,
                reloadThresholds: @escaping @Sendable () throws -> MatchThresholds, loadGallery: @escaping @Sendable (WardenDatabase, String) throws -> Gallery) {
        self.config = config; self.filePolicy = filePolicy; self.policyDirectory = policyDirectory; self.pinMap = pinMap; self.models = models
        self.thresholds = thresholds; self.metricHead = metricHead; self.db = db; self.auditStore = auditStore; self.membership = membership
        self.home = home; self.padLocator = padLocator; self.secondModel = secondModel; self.secondModelProblem = secondModelProblem
        self.reloadThresholds = reloadThresholds; self.loadGallery = loadGallery
    }

    func file(_ name: String) -> String { (home as NSString).appendingPathComponent(name) }
}

/// Why a board did not start. `doorsTouched` false: no relay was driven.
public struct BoardStartError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What the board says to whoever started it, beside the audit log and the timeline:
/// `warden run` prints `said` on stdout, notes and problems on stderr.
public struct BoardConsole: Sendable {
    /// What happened (a reload taken in).
    public var said: @Sendable (String) -> Void
    /// Worth knowing (a warning about the site, a reload already under way).
    public var note: @Sendable (String) -> Void
    /// Something does not work as configured.
    public var problem: @Sendable (String) -> Void
    public init(said: @escaping @Sendable (String) -> Void, note: @escaping @Sendable (String) -> Void, problem: @escaping @Sendable (String) -> Void) {
        self.said = said; self.note = note; self.problem = problem
    }
}

/// The board's composition root, the twin of the server's `ServerRunner`: every service a
/// controller runs (audit log and integrations, face engine and galleries, doors, readers,
/// fire alarm, fleet link, status and frame sockets) is built in `init`, driven by `run`
/// and stopped by `shutdown`. `warden run` is a thin command around it.
public final class BoardRunner {
    public let controller: SiteController
    public let clock: any WardenClock
    public let startedAt: Date
    /// Doors that came up, of those the site file names.
    public let doorsUp: Int
    let inputs: BoardInputs
    let console: BoardConsole
    let logger: Logger
    let audit: AuditLog
    let integrations: IntegrationSinks
    /// Remote commands (mqtt.commands) wait here for the door loop, which has the policy decide them.
    let commands: RemoteCommandInbox
    let osdp: OSDPReaders
    let simulatedGPIO: SimulatedGPIO?
    let agent: FleetAgent?
    private var fleetTask: Task<Void, Never>?
    /// The doors' states as the fleet agent reports them (set by the loop, read by the agent).
    let doorStates: DoorReportBox
    let statusBox: StatusBox
    let statusServer: StatusServer?
    let frameServer: FrameShareServer?
    private let reloading = BackgroundReload()

    public init(_ inputs: BoardInputs, clock: any WardenClock = SystemClock(), console: BoardConsole, logger: Logger) throws {
        self.inputs = inputs; self.clock = clock; self.console = console; self.logger = logger
        let commands = RemoteCommandInbox(), doorStates = DoorReportBox(), statusBox = StatusBox()
        self.commands = commands; self.doorStates = doorStates; self.statusBox = statusBox
        let config = inputs.config, pinMap = inputs.pinMap, db = inputs.db
        // The files' grants plus those made with `warden grant` (or, on a fleet board, at the
        // server): the door decides on the same grants `policy explain` shows.
        let policy: SitePolicy
        do { policy = try inputs.filePolicy.merging(db, warn: console.problem) } catch {
            throw BoardStartError("the grants in the identity database cannot be read: \(error)")
        }

        // Committed events go on to the integrations (MQTT, webhooks), which never hold up a door.
        let integrations = IntegrationSinks()
        self.integrations = integrations
        let audit = AuditLog(store: inputs.auditStore, onCommit: { integrations.accept($0) })
        self.audit = audit
        Self.startIntegrations(config: config, policy: policy, membership: inputs.membership, audit: audit, integrations: integrations,
                               commands: commands, console: console)
        // One BLAS thread per inference call: each camera has its own worker (see BLASThreads).
        BLASThreads.limit(to: 1)
        let engine: FaceEngine
        do { engine = try FaceEngine(models: inputs.models) } catch { throw BoardStartError(error.description) }
        let gallery: Gallery
        do { gallery = try Gallery.load(from: db, head: inputs.metricHead) } catch { throw BoardStartError("\(error)") }
        // Rows of the identity database that no audit event accounts for: reported, and
        // recorded, but they do not keep doors from running.
        var reconciliation: ChangeReconciliation? = nil
        do { reconciliation = try ChangeReconciliation.run(db: db, audit: inputs.auditStore) } catch {
            console.problem("could not check the identity database against the audit log: \(error); `warden audit verify` will say more")
        }
        // Presentation-attack detection, when some door may require liveness. Missing models
        // do not stop the site: those doors keep their face factor out of service, logged.
        let pad = LivenessLoading.forPolicy(policy, locator: inputs.padLocator)
        if let why = pad.problem { console.problem("liveness: \(why)") }
        // What starts but would not work as the files mean (`warden run --check` lists it too).
        for w in config.warnings(against: policy, pinMap: pinMap) { console.note("warning: \(w)") }
        let controller = SiteController(policy: policy, db: db, audit: audit, faceEngine: engine, gallery: gallery, thresholds: inputs.thresholds,
                                        clock: clock, liveness: pad.detector, livenessProblem: pad.problem)
        self.controller = controller
        controller.templateUpdate = config.templateUpdate
        // A fleet controller's templates are the server's (SiteController.templatesFromServer).
        controller.templatesFromServer = inputs.membership != nil
        if inputs.membership != nil && config.templateUpdate.enabled {
            console.problem("template_update is ignored on a fleet controller: its templates are the server's replica; re-enroll at the server instead")
        }
        if let model = inputs.secondModel {
            do { controller.useSecondModel(model, gallery: try inputs.loadGallery(db, model.modelID)) } catch {
                controller.secondProblem = "its templates cannot be read (\(error)); faces are decided by dlib's model alone"
            }
        } else {
            controller.secondProblem = inputs.secondModelProblem
        }
        if let why = controller.secondProblem { console.problem("second face model not in use: \(why)") }
        startedAt = clock.now
        controller.record(AuditEvent(at: startedAt, kind: .system, type: "system.start",
                                     detail: ["site": config.file, "gpio": config.gpio.rawValue, "templates": String(gallery.count),
                                              "metric_head": inputs.metricHead.map { "\($0.kind.rawValue) \($0.weightsDigest)" } ?? "none",
                                              "face_models": controller.faceModelsStatus["models"] ?? "",
                                              "unaudited_rows": String(reconciliation?.unaccounted.count ?? 0)], siteTimeZone: policy.timeZone))
        // A lockdown in force when the controller stopped is in force again.
        controller.restoreDoorModes(from: DoorModeFile(path: inputs.file("door-modes.json")))
        if let r = reconciliation, !r.unaccounted.isEmpty {
            controller.record(AuditEvent(at: startedAt, kind: .system, type: "system.unaudited_changes",
                                         detail: ["count": String(r.unaccounted.count), "first": r.unaccounted[0]], siteTimeZone: policy.timeZone))
            console.problem("\(counted(r.unaccounted.count, "row")) of the identity database are not accounted for by the audit log (first: \(r.unaccounted[0])); `warden audit verify` lists them")
        }
        controller.onTimeline = { [logger] e in
            let level: Logger.Level
            switch e.severity {
            case .alarm: level = .error
            case .warning: level = .warning
            case .notice: level = .notice
            case .info: level = .info
            }
            logger.log(level: level, "\(e.text)", metadata: ["door": "\(e.door)"])
        }

        // The doors.
        let backend: any GPIOBackend
        var sim: SimulatedGPIO? = nil
        switch config.gpio {
        case .gpiod: backend = LibgpiodGPIO()
        case .simulated:
            let s = SimulatedGPIO(clock: clock, pinMap: pinMap)
            try? s.setIdleLevels(pinMap)
            backend = s; sim = s
        }
        simulatedGPIO = sim
        let osdp = OSDPReaders.start(doors: Array(config.doors.keys), pinMap: pinMap, keys: db.readerKeys, pinMapPath: config.pinMapPath)
        self.osdp = osdp
        doorsUp = Self.addDoors(config: config, policy: policy, pinMap: pinMap, backend: backend, osdp: osdp, controller: controller, audit: audit,
                                clock: clock, console: console)
        if let fire = pinMap.fireAlarm {
            if let sim { try? sim.drive(fire, high: fire.activeLow) }
            controller.attachFireAlarm(fire, backend: backend)
        }

        // The fleet link, beside the doors: it never touches one. Changes it applies to the
        // replica are taken in like a SIGHUP reload.
        var agent: FleetAgent? = nil
        if let m = inputs.membership {
            do {
                agent = FleetAgent(membership: m, transport: try m.transport(), db: db, audit: inputs.auditStore, home: inputs.home,
                                   wardenVersion: WardenVersion.current, record: { [audit] e in audit.record(e) }, doors: { doorStates.get() },
                                   captures: FleetCaptureRunner(doorCapture: DoorCapture(models: inputs.models, frames: controller.latestFrames,
                                                                                        doors: Set(config.doors.keys), padLocator: inputs.padLocator,
                                                                                        makeSecond: controller.secondModel?.make)))
                logger.info("fleet: controller '\(m.settings.controller)' of \(m.settings.server); replica at revision \(agent!.linkStatus.appliedRevision)")
            } catch { console.problem("fleet: the link cannot start (\(error)); the doors decide from the replica as it is") }
        }
        self.agent = agent

        // The status socket; the doors' cameras, lent to `warden enroll --camera DOOR` while
        // this controller holds them.
        statusServer = try? StatusServer(path: inputs.file("warden.sock")) { statusBox.get() }
        frameServer = try? FrameShareServer(path: inputs.file("frames.sock"), frames: controller.latestFrames, doors: Set(config.doors.keys))
        if let agent { fleetTask = Task.detached { await agent.run() } }
    }

    static func startIntegrations(config: SiteConfig, policy: SitePolicy, membership: FleetMembership?, audit: AuditLog, integrations: IntegrationSinks,
                                  commands: RemoteCommandInbox, console: BoardConsole) {
        // Remote commands (mqtt.commands) wait in `commands` for the door loop, which has the
        // policy decide them.
        if var m = config.mqtt {
            if m.site.isEmpty { m.site = policy.name }
            if let controller = membership?.settings.controller { m.identify(controller: controller) }
            let doors = config.doors.keys.sorted().map { HomeAssistantDiscovery.Door(id: $0, name: policy.doors[$0]?.name ?? $0) }
            let p = EventPublisher(settings: m, connection: MosquittoConnection(settings: m), doors: doors, version: WardenVersion.current,
                                   record: { [audit] e in audit.record(e) })
            if m.commands.enabled { p.onCommand = { commands.offer($0) } }
            do {
                try p.start()
                integrations.add(p)
                if m.username != nil && m.tls == nil { console.problem("mqtt: the broker password goes in clear without mqtt.tls") }
            } catch { console.problem("\(error); the doors run without MQTT") }
        }
        for var w in config.webhooks {
            w.site = policy.name
            let sender = WebhookSender(settings: w, record: { [audit] e in audit.record(e) })
            sender.start()
            integrations.add(sender)
        }
    }

    /// Each door of the site file: its camera, reader and lines. A door that cannot come up
    /// stays out of service, with the reason logged; the others run.
    static func addDoors(config: SiteConfig, policy: SitePolicy, pinMap: PinMap, backend: any GPIOBackend, osdp: OSDPReaders, controller: SiteController,
                         audit: AuditLog, clock: any WardenClock, console: BoardConsole) -> Int {
        var up = 0
        // Detection beside embedding on a second thread per camera, when the board has a core
        // for every inference thread.
        let stages = InferenceWorker.stages(cameras: config.doors.values.filter { $0.camera != nil }.count)
        for (id, dc) in config.doors.sorted(by: { $0.key < $1.key }) {
            let d = policy.doors[id]!
            var camera: (any FrameSource)? = nil
            if let c = dc.camera {
                let tz = policy.timeZone
                let report: @Sendable (CaptureEvent) -> Void = { [audit] e in
                    switch e {
                    case .started(let what): audit.record(AuditEvent(kind: .system, type: "system.camera_started", door: id, camera: what, siteTimeZone: tz))
                    case .lost(let why): audit.record(AuditEvent(kind: .system, type: "system.camera_fault", door: id, detail: ["reason": why], siteTimeZone: tz))
                    case .restored: audit.record(AuditEvent(kind: .system, type: "system.camera_recovered", door: id, siteTimeZone: tz))
                    }
                }
                switch c.kind {
                case .images(let dir):
                    do { camera = try ImageSequenceSource(folder: dir, fps: c.fps, width: c.width, height: c.height, loop: c.loop, clock: clock) } catch {
                        controller.record(AuditEvent(kind: .system, type: "system.camera_fault", door: id, detail: ["reason": "\(error)"], siteTimeZone: policy.timeZone))
                    }
                case .device(let dev): camera = V4L2Source(device: dev, width: c.width, height: c.height, fps: Int(c.fps), clock: clock, onEvent: report)
                case .stream(let url): camera = FFmpegSource(input: url, width: c.width, height: c.height, fps: c.fps, loop: c.loop, clock: clock, onEvent: report)
                }
            }
            let driver = DoorDriver(id: id, pins: pinMap.doors[id]!, behaviour: DoorBehaviour(strikeTime: d.strikeTime, heldOpenTime: d.heldOpenTime, preAlarm: min(10, d.heldOpenTime / 3)),
                                    formats: pinMap.formats(for: id), backend: backend, clock: clock, reader: osdp.readers[id])
            if let why = osdp.problems[id] {
                controller.record(AuditEvent(kind: .system, type: "reader.offline", door: id, reader: pinMap.doors[id]?.osdp.map { "osdp \($0.port) address \($0.address)" },
                                             detail: ["reason": why], siteTimeZone: policy.timeZone))
                console.problem("door \(id): its OSDP reader is offline: \(why); badges cannot be read there")
            }
            if controller.addDoor(.init(id: id, driver: driver, camera: camera, face: dc.face, lockout: dc.lockout, dedicatedInference: true,
                                        inferenceStages: stages)) { up += 1 }
        }
        return up
    }

    // MARK: The loop

    /// When the loop ends.
    public struct StopConditions {
        /// Polled every turn: a reason to stop (a signal), or nil.
        public var requested: () -> String?
        /// Polled every turn: reload everything (SIGHUP).
        public var reloadRequested: () -> Bool
        public var duration: TimeInterval?
        /// Stop once this many access decisions are made and the simulate script has played.
        public var afterDecisions: Int?
        public init(requested: @escaping () -> String?, reloadRequested: @escaping () -> Bool = { false }, duration: TimeInterval? = nil, afterDecisions: Int? = nil) {
            self.requested = requested; self.reloadRequested = reloadRequested; self.duration = duration; self.afterDecisions = afterDecisions
        }
    }

    /// Runs the doors until a stop condition holds; returns why it stopped.
    public func run(until stop: StopConditions) -> String {
        let config = inputs.config
        // Scripted steps count from here, once the doors are up: counted from `startedAt`, a
        // slow start (a loaded machine opening cameras) played them all at once, so a badge
        // and the door opening arrived together.
        let scriptOrigin = clock.now
        var script = config.simulate.enumerated().sorted { ($0.element.afterDecisions, $0.element.at, $0.offset) < ($1.element.afterDecisions, $1.element.at, $1.offset) }.map(\.element)
        // When each access decision was made: `after_decisions` steps count from these.
        var decidedAt: [Date] = []
        let watchdog = ServiceNotifier.watchdogInterval
        var lastWatchdog = Date.distantPast, lastStatus = Date.distantPast
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        while true {
            if let s = stop.requested() { return s }
            if let duration = stop.duration, clock.now.timeIntervalSince(startedAt) >= duration { return "duration reached" }
            if let n = stop.afterDecisions, script.isEmpty, controller.decisionCount >= n { return counted(controller.decisionCount, "decision") + " made" }
            // A reload is read and checked on a thread of its own and swapped in here, whole:
            // a large policy never holds up the doors (a released strike still relocks on time).
            // SIGHUP reads everything again; a fleet change only what it touched.
            if let scope: ReloadScope = stop.reloadRequested() ? .everything : agent?.takeReloadRequest() {
                let load = reloadLoader(scope: scope, secondModelID: controller.secondModel?.modelID)
                if reloading.start(load) == false { console.note("warden: a reload is already under way") }
            }
            if let outcome = reloading.take() { apply(outcome) }
            while decidedAt.count < controller.decisionCount { decidedAt.append(clock.now) }
            while let next = script.first, let sim = simulatedGPIO {
                let from = next.afterDecisions == 0 ? scriptOrigin : next.afterDecisions <= decidedAt.count ? decidedAt[next.afterDecisions - 1] : nil
                guard let from, clock.now.timeIntervalSince(from) >= next.at else { break }
                script.removeFirst()
                Self.simulate(next, sim: sim, pinMap: inputs.pinMap)
            }
            for c in commands.take() { controller.remote(c) }
            controller.step()
            if let w = watchdog, clock.now.timeIntervalSince(lastWatchdog) >= w { ServiceNotifier.notify("WATCHDOG=1"); lastWatchdog = clock.now }
            if clock.now.timeIntervalSince(lastStatus) >= 0.5 {
                if let d = try? encoder.encode(status()) { statusBox.set(d) }
                lastStatus = clock.now
            }
            usleep(5_000)
        }
    }

    /// What `warden status` shows now; also what the fleet agent reports of the doors.
    public func status() -> SiteStatus {
        var status = controller.status(startedAt: startedAt)
        if let agent { status.fleet = FleetStatusLine.fields(agent.linkStatus) }
        if let p = integrations.publisher { status.mqtt = MQTTStatusLine.fields(p) }
        if !osdp.buses.isEmpty { status.osdp = osdp.statusFields() }
        doorStates.set(status.doors.map { FleetDoorReport(id: $0.id, state: FleetStatusLine.doorState($0)) })
        return status
    }

    /// Every exit path: relays to their safe state, readers and links stopped, the log
    /// flushed and closed, erased templates gone from the write-ahead log.
    public func shutdown(reason: String) {
        fleetTask?.cancel()
        controller.shutdown(reason: reason)
        for bus in osdp.buses { bus.stop() }
        audit.close()
        integrations.stop()
        statusServer?.stop()
        frameServer?.stop()
        try? inputs.db.checkpointAndTruncateLog()
    }

    // MARK: Reloads

    /// What a reload reads again: the policy, the thresholds and the gallery (enrollments
    /// and removals made since start, under a key rotated since start). `gallery` nil: the
    /// change touched no template, and the running gallery stays.
    public struct Reloaded { let policy: SitePolicy; let thresholds: MatchThresholds; let gallery: Gallery?; var secondGallery: Gallery? = nil }

    /// Runs off the door loop.
    func reloadLoader(scope: ReloadScope, secondModelID: String?) -> @Sendable () throws -> Reloaded {
        let inputs = self.inputs, console = self.console
        return {
            let db = inputs.db
            let p = try PolicyLoader().load(directory: inputs.policyDirectory).merging(db, warn: console.problem)
            let t = try inputs.reloadThresholds()
            try db.reloadKeyIfRotated()
            let g = scope.gallery ? try inputs.loadGallery(db, ModelSet.recognitionModelID) : nil
            // Erasures made since (person remove) leave no page image in the log.
            try? db.checkpointAndTruncateLog()
            let g2 = scope.gallery ? try secondModelID.map { try inputs.loadGallery(db, $0) } : nil
            return Reloaded(policy: p, thresholds: t, gallery: g, secondGallery: g2)
        }
    }

    /// On the door loop: all of it, or none of it (a bad policy or an unreadable template
    /// keeps the running configuration).
    func apply(_ outcome: Result<Reloaded, Error>) {
        switch outcome {
        case .success(let r):
            controller.policy = r.policy
            controller.thresholds = r.thresholds
            if let g = r.gallery { controller.gallery = g }
            if let g = r.secondGallery { controller.secondGallery = g }
            let templates = controller.gallery.count
            controller.record(AuditEvent(kind: .system, type: "system.config_reload",
                                         detail: ["policy": inputs.policyDirectory, "templates": String(templates), "gallery": r.gallery == nil ? "kept" : "reloaded"],
                                         siteTimeZone: r.policy.timeZone))
            console.said("warden: policy, thresholds\(r.gallery == nil ? "" : " and " + counted(templates, "template")) reloaded")
        case .failure(let error):
            controller.record(AuditEvent(kind: .system, type: "system.config_reload_failed", detail: ["reason": "\(error)"], siteTimeZone: controller.policy.timeZone))
            console.problem("reload refused, keeping the running policy: \(error)")
        }
        fflush(nil)
    }

    /// Scripted inputs for the simulated backend: a badge is clocked onto D0/D1 in real
    /// time; contacts and exit buttons change level.
    static func simulate(_ s: SiteConfig.Simulated, sim: SimulatedGPIO, pinMap: PinMap) {
        guard let pins = pinMap.doors[s.door] else { return }
        if let badge = s.badge, let d0 = pins.wiegandD0, let d1 = pins.wiegandD1, let c = try? BadgeCredential(parsing: badge),
           let bits = pinMap.wiegandBits(door: s.door, badge: c) {
            // Each bit a 100 µs pulse every 2 ms, stamped so rather than slept: a busy
            // machine must not split the frame.
            let start = Date()
            for (i, bit) in bits.enumerated() {
                let at = start.addingTimeInterval(Double(i) * 0.002)
                try? sim.drive(bit ? d1 : d0, high: false, at: at); try? sim.drive(bit ? d1 : d0, high: true, at: at.addingTimeInterval(0.0001))
            }
        }
        if let c = s.contact, let line = pins.contact { try? sim.drive(line, high: c == "open") }
        if s.exit != nil, let e = pins.exit { try? sim.drive(e, high: false); usleep(50_000); try? sim.drive(e, high: true) }
    }
}
