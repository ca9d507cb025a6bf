import Board
import CommandSupport
import ArgumentParser
import Audit
import Controller
import DoorIO
import FaceKit
import FleetLink
import Foundation
import Logging
import Matching
import Policy
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
            Output.error("not starting; \(counted(problems.count, "problem")), no door was touched:")
            for p in problems { FileHandle.standardError.write(Data("  - \(p)\n".utf8)) }
            throw ExitCode(2)
        }
        // 2. Everything else, built in one place: the board's composition root.
        // Structured log lines on stdout, stamped in the site's time with its offset
        // (journald adds its own timestamps under systemd).
        var logger = Logger(label: "warden") { [tz = filePolicy.timeZone] in SiteTimeLogHandler(label: $0, timeZone: tz) }
        logger[metadataKey: "site"] = "\(filePolicy.name)"
        let second = SecondModelLoading.load(global: global, metricHead: head)
        let global = self.global
        let inputs = BoardInputs(config: config, filePolicy: filePolicy, policyDirectory: policyDirectory, pinMap: pinMap, models: models, thresholds: thresholds,
                                 metricHead: head, db: db, auditStore: auditStore, membership: membership, home: global.wardenHome.path,
                                 padLocator: global.padModelLocator, secondModel: second.model, secondModelProblem: second.problem,
                                 reloadThresholds: { try global.thresholds() }, loadGallery: { try global.loadGallery($0, modelID: $1) })
        let board: BoardRunner
        do {
            board = try BoardRunner(inputs, console: BoardConsole(said: { print($0); fflush(nil) }, note: { Output.note($0) }, problem: { Output.error($0) }), logger: logger)
        } catch let e as BoardStartError {
            Output.error("not starting, no door was touched: \(e)")
            throw ExitCode(2)
        }
        let doorCount = config.doors.count
        ServiceNotifier.notify("READY=1\nSTATUS=\(board.doorsUp) of \(doorCount) doors up")
        logger.info("\(board.doorsUp) of \(doorCount) doors up, \(board.controller.gallery.count) templates; gpio \(config.gpio.rawValue); Ctrl-C or SIGTERM to stop")

        // 3. The loop, until a signal, the duration or the decisions asked for.
        let stopReason = board.run(until: .init(requested: { signals.stop.map { "\($0) received" } }, reloadRequested: signals.takeReload,
                                                duration: duration, afterDecisions: stopAfterDecisions))

        // 4. Every exit path: safe state, flush.
        ServiceNotifier.notify("STOPPING=1")
        board.shutdown(reason: stopReason)
        instanceLock?.release()
        logger.info("stopped (\(stopReason)); relays in their safe state")
        // Everything is relocked, flushed and closed. Leave without running library
        // teardown: OpenBLAS's exit handler can deadlock joining its thread pool after
        // inference ran on worker threads, which would leave a stopped controller hanging.
        fflush(nil)
        _exit(0)
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
        let tz = s.timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        print("\(s.site): running since \(HumanTime.text(s.startedAt, in: tz)); audit log \(s.auditLog)")
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
                  + (f["server_revision"].map { " of \($0)" } ?? "") + "; " + (f["buffered_events"].flatMap(Int.init).map { counted($0, "event") } ?? "? events") + " not yet uploaded"
                  + (f["clock_skew_seconds"].map { "; clock skew \($0) s" } ?? "") + (f["last_error"].map { "; last error: \($0)" } ?? ""))
        }
        if let m = s.mqtt {
            print("mqtt: \(m["broker"] ?? "?") link \(m["link"] ?? "?"); topics \(m["topics"] ?? "?"); \(m["published"] ?? "?") published, "
                  + "\(m["queued"] ?? "?") queued, \(m["dropped"] ?? "?") dropped")
        }
        for b in s.osdp ?? [] {
            // The counts come as text from the status socket.
            func n(_ key: String, _ noun: String) -> String { counted(Int(b[key] ?? "0") ?? 0, noun) }
            print("osdp \(b["port"] ?? "?"): \(b["online"] ?? "?") of \(n("readers", "reader")) online under Secure Channel; "
                  + "\(n("bytes_skipped", "byte")) of noise skipped, \(n("frames_rejected", "frame")) rejected, "
                  + "\(n("secure_channel_failures", "Secure Channel failure"))" + (b["port_problem"].map { "; \($0)" } ?? ""))
        }
        if !s.recent.isEmpty { print("recent:"); for r in s.recent { print("  \(r)") } }
    }
}
