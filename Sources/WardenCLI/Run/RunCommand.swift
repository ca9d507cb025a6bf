import CommandSupport
import ArgumentParser
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
import OSDP
import Policy
import PresentationAttack
import Storage
import WardenCore

/// Signals, turned into flags the loop polls.
final class SignalFlags: @unchecked Sendable {
    private let lock = NSLock()
    private var stopSignal: String?
    private var reload = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        let q = DispatchQueue(label: "warden.signals")
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT"), (SIGHUP, "SIGHUP")] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: q)
            s.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                if sig == SIGHUP { self.reload = true } else { self.stopSignal = name }
                self.lock.unlock()
            }
            s.resume()
            sources.append(s)
        }
    }
    var stop: String? { lock.lock(); defer { lock.unlock() }; return stopSignal }
    func takeReload() -> Bool { lock.lock(); defer { reload = false; lock.unlock() }; return reload }
}

/// One reload at a time, loaded on its own thread; the loop takes the outcome when it is ready.
final class BackgroundReload: @unchecked Sendable {
    private let lock = NSLock()
    private var running = false
    private var outcome: Result<RunCommand.Reloaded, Error>?

    /// False when one is already under way.
    func start(_ load: @escaping @Sendable () throws -> RunCommand.Reloaded) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !running else { return false }
        running = true
        let t = Thread { [self] in
            let r = Result { try load() }
            lock.lock(); outcome = r; running = false; lock.unlock()
        }
        t.name = "warden.reload"
        t.start()
        return true
    }

    func take() -> Result<RunCommand.Reloaded, Error>? {
        lock.lock(); defer { outcome = nil; lock.unlock() }
        return outcome
    }
}

/// The doors' states as the fleet agent reports them (set by the loop, read by the agent).
final class DoorReportBox: @unchecked Sendable {
    private let lock = NSLock()
    private var doors: [FleetDoorReport] = []
    func set(_ d: [FleetDoorReport]) { lock.withLock { doors = d } }
    func get() -> [FleetDoorReport] { lock.withLock { doors } }
}

/// The integrations that have started (read by the audit writer's commit hook).
final class IntegrationSinks: @unchecked Sendable {
    private let lock = NSLock()
    private var sinks: [any EventSink] = []
    func add(_ s: any EventSink) { lock.withLock { sinks.append(s) } }
    func accept(_ events: [AuditEvent]) { for s in lock.withLock({ sinks }) { s.accept(events) } }
    func stop() { for s in lock.withLock({ sinks }) { s.stop(drain: 2) } }
    var publisher: EventPublisher? { lock.withLock { sinks.lazy.compactMap { $0 as? EventPublisher }.first } }
}

/// The MQTT link in `warden status`.
enum MQTTStatusLine {
    static func fields(_ p: EventPublisher) -> [String: String] {
        let c = p.counters
        return ["broker": "\(p.settings.host):\(p.settings.port)", "link": c.connected ? "up" : "DOWN (events queued, doors unaffected)",
                "topics": p.topics.base, "queued": String(c.queued), "published": String(c.published), "dropped": String(c.dropped)]
    }
}

/// The fleet link in `warden status`.
enum FleetStatusLine {
    static func fields(_ s: FleetLinkStatus) -> [String: String] {
        var f = ["server": s.server, "controller": s.controller, "link": s.connected ? "up" : "DOWN (deciding from the local replica)",
                 "applied_revision": String(s.appliedRevision), "acknowledged_seq": String(s.acknowledgedSeq), "buffered_events": String(s.bufferedEvents)]
        if let r = s.serverRevision { f["server_revision"] = String(r) }
        if let c = s.bufferCapacity {
            f["buffer_capacity_events"] = String(c)
            f["buffer"] = s.bufferLevel == .normal ? "normal" : "\((s.bufferLevel ?? .normal).rawValue.uppercased()): \(s.bufferedEvents) of \(c) events waiting for the server"
        }
        if let k = s.clockSkewSeconds { f["clock_skew_seconds"] = String(format: "%.2f", k) }
        if let c = s.lastContact { f["last_contact"] = AuditTime.utc(c) }
        if let e = s.lastError { f["last_error"] = e }
        if let p = s.applyProblem { f["apply_problem"] = "ALARM: " + p }
        return f
    }

    static func doorState(_ d: SiteStatus.DoorStatus) -> String {
        if d.alarm { return "alarm" }
        if d.faceOutOfService != nil { return "out of service" }
        if d.cameraFault != nil { return "camera fault" }
        if d.contactOpen { return "open" }
        return d.lockReleased ? "released" : "locked"
    }
}

final class StatusBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data("{}".utf8)
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the access controller for the doors a site file describes.",
        discussion: """
        Validates everything first (site file, policy, pin map, models, database) and reports \
        every problem at once; nothing is started, and no relay is touched, until all is \
        well. Then, for each door: reads the camera and the reader, decides, drives the lock, \
        watches the contact and exit button, and records every step in the audit log.

        SIGTERM or SIGINT: relays to their safe state, log flushed, exit 0. SIGHUP: reload the \
        policy, the thresholds and the enrolled templates without dropping doors (a bad \
        policy is refused and the old one kept). Status: `warden status` (socket <home>/warden.sock, owner-only). Under \
        systemd it sends READY=1 and WATCHDOG=1 (hardware/warden.service).
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Site file (YAML).") var site: String
    @Option(help: "Stop after this many seconds (for tests and trials).") var duration: Double?
    @Option(help: ArgumentHelp("Stop once this many access decisions have been made and the simulate script has played (for tests and trials).",
                               discussion: "Ends a rehearsal when its outcome is known, however fast this board recognises faces; --duration still bounds it."))
    var stopAfterDecisions: Int?
    @Flag(help: ArgumentHelp("Check the site and exit: every file, model and store a start needs, and what would start but not work (a face door without a camera). No door is touched.",
                             discussion: "Exit 0 when the site would start (warnings may remain), 2 when it would not. Runs beside a running controller: it reads only."))
    var check = false

    func run() throws {
        // 0. One controller per home: a second would take over the status socket, and both
        // would drive the same relays. The lock goes with the process, however it ends. A
        // check reads only, so it runs beside the controller.
        var instanceLock: HomeLock? = nil
        if !check {
            do { instanceLock = try HomeLock.acquire(home: global.wardenHome.path) } catch {
                Output.error("not starting, no door was touched: \(error)")
                throw ExitCode(2)
            }
        }
        defer { instanceLock?.release() }
        // Caught from the start: a SIGTERM while the models load is a clean stop once the
        // loop begins (logged, flushed), not the default death with events in memory.
        let signals = SignalFlags()

        // 1. Validate everything; collect every problem.
        var problems: [String] = []
        var config: SiteConfig? = nil
        var paths: (policy: String?, pinMap: String?) = (nil, nil)
        do {
            config = try SiteConfig.load(path: site)
            paths = (config!.policyDirectory, config!.pinMapPath)
        } catch let e as SiteConfigError { problems += e.problems; paths = (e.policyDirectory, e.pinMapPath) }
        var loadedPolicy: SitePolicy? = nil
        var pinMap: PinMap? = nil
        // A fleet controller takes the policy the server sent, not the site file's.
        var membership: FleetMembership? = nil
        do { membership = try global.fleetMembership() } catch { problems.append("\(error)") }
        if let m = membership {
            if FileManager.default.fileExists(atPath: m.policyDirectory) { paths.policy = m.policyDirectory } else {
                problems.append("this board is controller '\(m.settings.controller)' of \(m.settings.server) but has no policy from it yet: "
                                + "publish one at the server, then `warden fleet sync` here")
                paths.policy = nil
            }
        }
        let policyDirectory = paths.policy ?? config?.policyDirectory ?? ""
        if let dir = paths.policy {
            do { loadedPolicy = try PolicyLoader().load(directory: dir) } catch { problems += error.issues.map(\.description) }
        }
        if let path = paths.pinMap {
            do { pinMap = try PinMap.load(path: path) } catch { problems.append("\(error)") }
        }
        if let c = config {
            if let policy = loadedPolicy, let pinMap {
                for id in c.doors.keys.sorted() where policy.doors[id] == nil {
                    problems.append("\(c.file): " + NotFound.message("door", id, "is not in the policy", known: policy.doors.keys))
                }
                for id in c.doors.keys.sorted() where pinMap.doors[id] == nil {
                    problems.append("\(c.file): " + NotFound.message("door", id, "has no wiring in \(c.pinMapPath)", known: pinMap.doors.keys))
                }
            }
        }
        let models: ModelSet?
        do { models = try global.modelLocator.locate() } catch { models = nil; problems.append(error.description) }
        let thresholds: MatchThresholds?
        do { thresholds = try global.thresholds() } catch { thresholds = nil; problems.append("\(error)") }
        var head: MetricHead? = nil
        do { head = try global.metricHead() } catch { problems.append("\(error)") }
        // The stores: a log that is not the one Warden wrote, or a damaged identity
        // database, keeps every door from starting (the locks stay as the wiring holds them).
        var db: WardenDatabase? = nil
        var auditStore: AuditStore? = nil
        // A check opens the stores read-only; a home with no database yet is new, not broken
        // (the first `warden person add` creates it).
        let newHome = check && !FileManager.default.fileExists(atPath: global.wardenHome.file(WardenDatabase.fileName))
        var notes: [String] = newHome ? ["no identity database in \(global.wardenHome.path) yet: `warden person add` creates it; the doors would start with no one enrolled"] : []
        if !newHome {
            do {
                let store = try global.openAudit(readOnly: check, ownHome: true)
                auditStore = store
                if let d = try store.discontinuity() { problems.append(AuditError.discontinuity(d).description) }
            } catch { problems.append("\(error)") }
            do {
                let d = try global.openDatabase(readOnly: check, forReplica: membership != nil, ownHome: true)
                if let bad = d.integrityProblem() {
                    problems.append("the identity database \(d.path) is damaged (SQLite quick_check: \(bad)); restore it from a backup")
                } else { db = d }
            } catch { problems.append("\(error)") }
        }
        if check {
            try reportCheck(problems: problems, config: config, policy: loadedPolicy, pinMap: pinMap, database: db, notes: &notes)
            return
        }
        guard problems.isEmpty, let config, let filePolicy = loadedPolicy, let pinMap, let models, let thresholds, let db, let auditStore else {
            Output.error("not starting; \(problems.count) problem(s), no door was touched:")
            for p in problems { FileHandle.standardError.write(Data("  - \(p)\n".utf8)) }
            throw ExitCode(2)
        }
        // The files' grants plus those made with `warden grant` (or, on a fleet board, at the
        // server): the door decides on the same grants `policy explain` shows.
        let policy: SitePolicy
        do { policy = try filePolicy.merging(db) } catch {
            Output.error("not starting, no door was touched: the grants in the identity database cannot be read: \(error)")
            throw ExitCode(2)
        }

        // 2. State: database, audit log, face engine, gallery. One BLAS thread per
        // inference call: each camera has its own worker (see BLASThreads).
        BLASThreads.limit(to: 1)
        // Committed events go on to the integrations (MQTT, webhooks), which never hold up a door.
        let integrations = IntegrationSinks()
        let audit = AuditLog(store: auditStore, onCommit: { integrations.accept($0) })
        // Remote commands (mqtt.commands) wait here for the door loop, which has the policy decide them.
        let commands = RemoteCommandInbox()
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
                if m.username != nil && m.tls == nil { Output.error("mqtt: the broker password goes in clear without mqtt.tls") }
            } catch { Output.error("\(error); the doors run without MQTT") }
        }
        for var w in config.webhooks {
            w.site = policy.name
            let sender = WebhookSender(settings: w, record: { [audit] e in audit.record(e) })
            sender.start()
            integrations.add(sender)
        }
        let engine: FaceEngine
        do { engine = try FaceEngine(models: models) } catch { throw CLIError(error.description) }
        let gallery: Gallery
        do { gallery = try Gallery.load(from: db, head: head) } catch {
            Output.error("not starting, no door was touched: \(error)")
            throw ExitCode(2)
        }
        // Rows of the identity database that no audit event accounts for: reported, and
        // recorded, but they do not keep doors from running.
        var reconciliation: ChangeReconciliation? = nil
        do { reconciliation = try ChangeReconciliation.run(db: db, audit: auditStore) } catch {
            Output.error("could not check the identity database against the audit log: \(error); `warden audit verify` will say more")
        }
        // Presentation-attack detection, when some door may require liveness. Missing models
        // do not stop the site: those doors keep their face factor out of service, logged.
        let pad = LivenessLoading.forPolicy(policy, locator: global.padModelLocator)
        if let why = pad.problem { Output.error("liveness: \(why)") }
        // What starts but would not work as the files mean (`warden run --check` lists it too).
        for w in config.warnings(against: policy, pinMap: pinMap) { Output.note("warning: \(w)") }
        let clock = SystemClock()
        let controller = SiteController(policy: policy, db: db, audit: audit, faceEngine: engine, gallery: gallery, thresholds: thresholds, clock: clock,
                                        liveness: pad.detector, livenessProblem: pad.problem)
        controller.templateUpdate = config.templateUpdate
        // A fleet controller's templates are the server's (SiteController.templatesFromServer).
        controller.templatesFromServer = membership != nil
        if membership != nil && config.templateUpdate.enabled {
            Output.error("template_update is ignored on a fleet controller: its templates are the server's replica; re-enroll at the server instead")
        }
        let second = SecondModelLoading.load(global: global, metricHead: head)
        if let model = second.model {
            do { controller.useSecondModel(model, gallery: try global.loadGallery(db, modelID: model.modelID)) } catch {
                controller.secondProblem = "its templates cannot be read (\(error)); faces are decided by dlib's model alone"
            }
        } else {
            controller.secondProblem = second.problem
        }
        if let why = controller.secondProblem { Output.error("second face model not in use: \(why)") }
        let started = clock.now
        controller.record(AuditEvent(at: started, kind: .system, type: "system.start",
                                     detail: ["site": config.file, "gpio": config.gpio.rawValue, "templates": String(gallery.count),
                                              "metric_head": head.map { "\($0.kind.rawValue) \($0.weightsDigest)" } ?? "none",
                                              "face_models": controller.faceModelsStatus["models"] ?? "",
                                              "unaudited_rows": String(reconciliation?.unaccounted.count ?? 0)], siteTimeZone: policy.timeZone))
        // A lockdown in force when the controller stopped is in force again.
        controller.restoreDoorModes(from: DoorModeFile(path: global.wardenHome.file("door-modes.json")))
        if let r = reconciliation, !r.unaccounted.isEmpty {
            controller.record(AuditEvent(at: started, kind: .system, type: "system.unaudited_changes",
                                         detail: ["count": String(r.unaccounted.count), "first": r.unaccounted[0]], siteTimeZone: policy.timeZone))
            Output.error("\(r.unaccounted.count) row(s) of the identity database are not accounted for by the audit log (first: \(r.unaccounted[0])); `warden audit verify` lists them")
        }
        // Structured log lines on stdout (journald adds its own timestamps under systemd).
        var logger = Logger(label: "warden") { StreamLogHandler.standardOutput(label: $0) }
        logger[metadataKey: "site"] = "\(policy.name)"
        let log = logger
        controller.onTimeline = { e in
            let level: Logger.Level = e.text.hasPrefix("ALARM") || e.text.contains("FAULT") || e.text.hasPrefix("OUT OF SERVICE") ? .warning
                : e.text.hasPrefix("DENIED") || e.text.hasPrefix("LOCKOUT") ? .notice : .info
            log.log(level: level, "\(e.text)", metadata: ["door": "\(e.door)"])
        }

        // 3. Doors.
        let backend: any GPIOBackend
        let sim: SimulatedGPIO?
        switch config.gpio {
        case .gpiod: backend = LibgpiodGPIO(); sim = nil
        case .simulated:
            let s = SimulatedGPIO(clock: clock, pinMap: pinMap)
            try? s.setIdleLevels(pinMap)
            backend = s; sim = s
        }
        let osdp = OSDPReaders.start(doors: Array(config.doors.keys), pinMap: pinMap, keys: db.readerKeys, pinMapPath: config.pinMapPath)
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
                Output.error("door \(id): its OSDP reader is offline: \(why); badges cannot be read there")
            }
            if controller.addDoor(.init(id: id, driver: driver, camera: camera, face: dc.face, lockout: dc.lockout, dedicatedInference: true,
                                        inferenceStages: stages)) { up += 1 }
        }

        if let fire = pinMap.fireAlarm {
            if let sim { try? sim.drive(fire, high: fire.activeLow) }
            controller.attachFireAlarm(fire, backend: backend)
        }

        // 4. The fleet link, beside the doors: it never touches one. Changes it applies to
        // the replica are taken in like a SIGHUP reload.
        let doorStates = DoorReportBox()
        var agent: FleetAgent? = nil
        var fleetTask: Task<Void, Never>? = nil
        if let m = membership {
            do {
                let a = FleetAgent(membership: m, transport: try m.transport(), db: db, audit: auditStore, home: global.wardenHome.path,
                                   wardenVersion: WardenVersion.current, record: { [audit] e in audit.record(e) }, doors: { doorStates.get() },
                                   captures: FleetCaptureRunner(doorCapture: DoorCapture(models: models, frames: controller.latestFrames, doors: Set(config.doors.keys),
                                                                                     padLocator: global.padModelLocator, makeSecond: controller.secondModel?.make)))
                agent = a
                fleetTask = Task.detached { await a.run() }
                log.info("fleet: controller '\(m.settings.controller)' of \(m.settings.server); replica at revision \(a.linkStatus.appliedRevision)")
            } catch { Output.error("fleet: the link cannot start (\(error)); the doors decide from the replica as it is") }
        }

        // 5. Status socket, signals, systemd.
        let box = StatusBox()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let statusServer = try? StatusServer(path: global.wardenHome.file("warden.sock")) { box.get() }
        // The doors' cameras, lent to `warden enroll --camera DOOR` while this controller holds them.
        let frameServer = try? FrameShareServer(path: global.wardenHome.file("frames.sock"), frames: controller.latestFrames, doors: Set(config.doors.keys))
        ServiceNotifier.notify("READY=1\nSTATUS=\(up) of \(config.doors.count) doors up")
        log.info("\(up) of \(config.doors.count) doors up, \(gallery.count) templates; gpio \(config.gpio.rawValue); Ctrl-C or SIGTERM to stop")

        // 6. The loop. Scripted steps count from here, once the doors are up: counted from
        // `started`, a slow start (a loaded machine opening cameras) played them all at once,
        // so a badge and the door opening arrived together.
        let scriptOrigin = clock.now
        var script = config.simulate.enumerated().sorted { ($0.element.afterDecisions, $0.element.at, $0.offset) < ($1.element.afterDecisions, $1.element.at, $1.offset) }.map(\.element)
        // When each access decision was made: `after_decisions` steps count from these.
        var decidedAt: [Date] = []
        let watchdog = ServiceNotifier.watchdogInterval
        var lastWatchdog = Date.distantPast, lastStatus = Date.distantPast
        var stopReason = "duration reached"
        let reloading = BackgroundReload()
        while true {
            if let s = signals.stop { stopReason = "\(s) received"; break }
            if let duration, clock.now.timeIntervalSince(started) >= duration { break }
            if let n = stopAfterDecisions, script.isEmpty, controller.decisionCount >= n { stopReason = "\(controller.decisionCount) decisions made"; break }
            // A reload is read and checked on a thread of its own and swapped in here, whole:
            // a large policy never holds up the doors (a released strike still relocks on time).
            // SIGHUP reads everything again; a fleet change only what it touched.
            let scope: ReloadScope? = signals.takeReload() ? .everything : agent?.takeReloadRequest()
            if let scope {
                let secondModelID = controller.secondModel?.modelID
                if reloading.start({ try loadReload(policyDirectory: policyDirectory, db: db, scope: scope, secondModelID: secondModelID) }) == false { Output.note("warden: a reload is already under way") }
            }
            if let outcome = reloading.take() { apply(outcome, to: controller, policyDirectory: policyDirectory) }
            while decidedAt.count < controller.decisionCount { decidedAt.append(clock.now) }
            while let next = script.first, let sim {
                let from = next.afterDecisions == 0 ? scriptOrigin : next.afterDecisions <= decidedAt.count ? decidedAt[next.afterDecisions - 1] : nil
                guard let from, clock.now.timeIntervalSince(from) >= next.at else { break }
                script.removeFirst()
                simulate(next, sim: sim, pinMap: pinMap)
            }
            for c in commands.take() { controller.remote(c) }
            controller.step()
            if let w = watchdog, clock.now.timeIntervalSince(lastWatchdog) >= w { ServiceNotifier.notify("WATCHDOG=1"); lastWatchdog = clock.now }
            if clock.now.timeIntervalSince(lastStatus) >= 0.5 {
                var status = controller.status(startedAt: started)
                if let agent { status.fleet = FleetStatusLine.fields(agent.linkStatus) }
                if let p = integrations.publisher { status.mqtt = MQTTStatusLine.fields(p) }
                if !osdp.buses.isEmpty { status.osdp = osdp.statusFields() }
                doorStates.set(status.doors.map { FleetDoorReport(id: $0.id, state: FleetStatusLine.doorState($0)) })
                if let d = try? encoder.encode(status) { box.set(d) }
                lastStatus = clock.now
            }
            usleep(5_000)
        }

        // 7. Every exit path: safe state, flush.
        ServiceNotifier.notify("STOPPING=1")
        fleetTask?.cancel()
        controller.shutdown(reason: stopReason)
        for bus in osdp.buses { bus.stop() }
        audit.close()
        integrations.stop()
        statusServer?.stop()
        frameServer?.stop()
        // Erased templates must not outlive this process in the write-ahead log.
        try? db.checkpointAndTruncateLog()
        instanceLock?.release()
        log.info("stopped (\(stopReason)); relays in their safe state")
        // Everything is relocked, flushed and closed. Leave without running library
        // teardown: OpenBLAS's exit handler can deadlock joining its thread pool after
        // inference ran on worker threads, which would leave a stopped controller hanging.
        fflush(nil)
        _exit(0)
    }

    /// What a SIGHUP reads again: the policy, the thresholds and the gallery (enrollments
    /// and removals made with the CLI since start, under a key rotated since start).
    /// `gallery` nil: the change touched no template, and the running gallery stays.
    struct Reloaded { let policy: SitePolicy; let thresholds: MatchThresholds; let gallery: Gallery?; var secondGallery: Gallery? = nil }

    /// Runs off the door loop.
    private func loadReload(policyDirectory: String, db: WardenDatabase, scope: ReloadScope, secondModelID: String?) throws -> Reloaded {
        let p = try PolicyLoader().load(directory: policyDirectory).merging(db)
        let t = try global.thresholds()
        try db.reloadKeyIfRotated()
        let g = scope.gallery ? try global.loadGallery(db) : nil
        // Erasures made since (person remove) leave no page image in the log.
        try? db.checkpointAndTruncateLog()
        let g2 = scope.gallery ? try secondModelID.map { try global.loadGallery(db, modelID: $0) } : nil
        return Reloaded(policy: p, thresholds: t, gallery: g, secondGallery: g2)
    }

    /// On the door loop: all of it, or none of it (a bad policy or an unreadable template
    /// keeps the running configuration).
    private func apply(_ outcome: Result<Reloaded, Error>, to controller: SiteController, policyDirectory: String) {
        switch outcome {
        case .success(let r):
            controller.policy = r.policy
            controller.thresholds = r.thresholds
            if let g = r.gallery { controller.gallery = g }
            if let g = r.secondGallery { controller.secondGallery = g }
            let templates = String(controller.gallery.count)
            controller.record(AuditEvent(kind: .system, type: "system.config_reload",
                                         detail: ["policy": policyDirectory, "templates": templates, "gallery": r.gallery == nil ? "kept" : "reloaded"],
                                         siteTimeZone: r.policy.timeZone))
            print("warden: policy, thresholds\(r.gallery == nil ? "" : " and \(templates) templates") reloaded")
        case .failure(let error):
            controller.record(AuditEvent(kind: .system, type: "system.config_reload_failed", detail: ["reason": "\(error)"], siteTimeZone: controller.policy.timeZone))
            Output.error("reload refused, keeping the running policy: \(error)")
        }
        fflush(nil)
    }

    /// Scripted inputs for the simulated backend: a badge is clocked onto D0/D1 in real
    /// time; contacts and exit buttons change level.
    private func simulate(_ s: SiteConfig.Simulated, sim: SimulatedGPIO, pinMap: PinMap) {
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

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running controller's doors, camera health, audit log state and last decisions."
    )
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let path = global.wardenHome.file("warden.sock")
        let data: Data
        do { data = try StatusServer.query(path: path) } catch { throw CLIError("\(error)") }
        if global.json { FileHandle.standardOutput.write(data); print(); return }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let s = try decoder.decode(SiteStatus.self, from: data)
        print("\(s.site): running since \(s.startedAt); audit log \(s.auditLog)")
        for d in s.doors {
            print("  \(pad(d.id, 14)) mode \(pad(d.mode, 18)) lock \(d.lockReleased ? "RELEASED" : "locked  ") door \(d.contactOpen ? "open  " : "closed")"
                  + (d.alarm ? "  ALARM" : "") + (d.cameraFault.map { "  camera fault: \($0)" } ?? "") + (d.faceOutOfService.map { "  FACE FACTOR OUT OF SERVICE: \($0)" } ?? "")
                  + (d.inferenceLagSeconds.map { String(format: "  recognition %.1f s behind%@", $0, d.overloaded == true ? " (OVERLOADED: see inference_lag in the log)" : "") } ?? ""))
        }
        if let m = s.faceModels {
            if let people = m["people"] {
                print("faces: \(m["models"] ?? "?"); \(m["people_without_second_template"] ?? "?") of \(people) enrolled people still decided on dlib alone"
                      + " (no second-model template yet: " + (m["second_template_from"] ?? "a confident door pass or re-enrollment gives one") + ")")
            } else {
                print("faces: \(m["models"] ?? "?") alone; second model \(m["second_model"] ?? "not in use")")
            }
        }
        if let f = s.fleet {
            print("fleet: controller \(f["controller"] ?? "?") of \(f["server"] ?? "?"): link \(f["link"] ?? "?"); replica revision \(f["applied_revision"] ?? "?")"
                  + (f["server_revision"].map { " of \($0)" } ?? "") + "; \(f["buffered_events"] ?? "?") event(s) not yet uploaded"
                  + (f["clock_skew_seconds"].map { "; clock skew \($0) s" } ?? "") + (f["last_error"].map { "; last error: \($0)" } ?? ""))
        }
        if let m = s.mqtt {
            print("mqtt: \(m["broker"] ?? "?") link \(m["link"] ?? "?"); topics \(m["topics"] ?? "?"); \(m["published"] ?? "?") published, "
                  + "\(m["queued"] ?? "?") queued, \(m["dropped"] ?? "?") dropped")
        }
        for b in s.osdp ?? [] {
            print("osdp \(b["port"] ?? "?"): \(b["online"] ?? "?") of \(b["readers"] ?? "?") reader(s) online under Secure Channel; "
                  + "\(b["bytes_skipped"] ?? "0") byte(s) of noise skipped, \(b["frames_rejected"] ?? "0") frame(s) rejected, "
                  + "\(b["secure_channel_failures"] ?? "0") Secure Channel failure(s)" + (b["port_problem"].map { "; \($0)" } ?? ""))
        }
        if !s.recent.isEmpty { print("recent:"); for r in s.recent { print("  \(r)") } }
    }
}
