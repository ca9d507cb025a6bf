import Audit
import Capture
import DoorIO
import FaceKit
import Foundation
import Integrations
import Matching
import Policy
import PresentationAttack
import Storage
import WardenCore

/// One door's loop: reads the camera and the reader, turns faces and badges into factors,
/// asks the policy, drives the door, and records every step.
final class DoorController {
    let id: String
    let driver: DoorDriver
    let camera: (any FrameSource)?
    let face: FaceSettings
    let lockout: LockoutSettings
    unowned let site: SiteController
    /// Inference on its own thread and engine (live sites); nil: inline (deterministic
    /// simulated sites and tests).
    let worker: InferenceWorker?

    let pipeline: FacePipeline
    private var evidence: [Int: TrackEvidence] = [:]
    private var pendingBadge: PendingBadge?
    /// Only frames captured from this time on are evidence: set when a badge is read (a
    /// frame from before it, still being recognised on a slow board, may show the previous
    /// person) and when the camera faults or recovers (its frames in flight were seen
    /// before the gap, not by a camera that watched all along).
    private var evidenceSince = Date.distantPast
    private var failures: [Date] = []
    private var lockedOutUntil: Date?
    private var health = CameraHealth()
    private(set) var cameraFault: CameraHealth.Fault?
    private var lastFrameAt: Date?
    /// Frame-to-result time of the last processed frame (capture to the controller seeing
    /// its faces): how far behind the camera this door's recognition runs.
    private(set) var inferenceLag: TimeInterval?
    private var lastLagReport: Date?
    private let createdAt: Date
    /// A live camera silent this long is faulted (`no_signal`).
    static let noSignalAfter: TimeInterval = 5

    struct PendingBadge {
        var credential: String
        var person: Person
        var until: Date
    }

    /// What one tracked face has shown so far. Every frame votes, weighted by its face
    /// quality. A frame that was embedded ("fresh") votes its own result; a frame not worth
    /// embedding (no better than the last embedded one) repeats the track's last result.
    /// Only fresh votes can make up the `framesRequired` agreeing frames, so one lucky
    /// embedding repeated never opens a door; and while the fresh votes disagree, every
    /// frame is embedded (the pipeline is asked for evidence), so a doubtful case is
    /// settled by new looks rather than by repeats.
    struct TrackEvidence {
        /// 1:N: who each frame named (nil: nobody).
        var identified: [(person: Int64?, fresh: Bool, weight: Double)] = []
        /// 1:1 against a badge holder: whether each frame matched.
        var verified: [(ok: Bool, fresh: Bool, weight: Double)] = []
        /// Why the last embedded frame named nobody, if it did not.
        var lastMiss: NotRecognizedReason?
        var decided = false
        /// When a denial was decided: a face still in view is looked at again after the
        /// cooldown (someone just enrolled, or a schedule that has opened).
        var deniedAt: Date?
        /// A track's denials count once toward the reader lockout, however long it stays.
        var countedFailure = false
        /// The first embedding of the track: a face far from it is someone else who
        /// stepped into the same place, and starts fresh evidence.
        var reference: [Float]?
        /// Which models decided the track's last embedded frame (dlib's alone, or fused).
        var decidedBy: String?
        /// Presentation-attack scores of the fresh frames.
        var liveness = LivenessEvidence()
        var livenessProblem: String?
    }

    /// The share of the quality-weighted votes a decision needs: a few good frames
    /// outweigh a lucky poor one.
    static let weightedMajority = 2.0 / 3.0

    /// Unit-vector distance beyond which two faces of one track are taken to be different
    /// people (well past any same-person distance measured: max 0.47).
    static let differentPerson = 0.55
    /// A face denied and still in view is evaluated again after this long.
    static let redecideAfter: TimeInterval = 5

    init(id: String, driver: DoorDriver, camera: (any FrameSource)?, face: FaceSettings, lockout: LockoutSettings, site: SiteController,
         pipeline: FacePipeline, worker: InferenceWorker? = nil) {
        self.id = id; self.driver = driver; self.camera = camera; self.face = face; self.lockout = lockout; self.site = site
        self.pipeline = pipeline; self.worker = worker
        self.createdAt = site.clock.now
    }

    var door: Door? { site.policy.doors[id] }
    var now: Date { site.clock.now }

    // MARK: The loop

    func step() {
        refreshLiveness()
        syncMode()
        for report in driver.pump() { handle(report) }
        // Results first: a face captured inside a badge window counts even when the board
        // took longer than the window to recognise it.
        for observation in worker?.take() ?? [] { consider(observation) }
        // The window closes by the camera's time, not the wall's: once the deadline has
        // passed and no frame captured before it is still being recognised. On a slow
        // board the decision comes later; it is never lost to the wait.
        if let p = pendingBadge, now >= p.until, !(worker?.hasFrame(capturedBefore: p.until) ?? false) {
            pendingBadge = nil
            decide(person: p.person, badge: .valid, credential: p.credential, succeeded: [.badge], failed: [],
                   faceEvidence: nil, note: "no face shown within \(Int(face.badgeWindow))s of the badge")
        }
        if let frame = try? camera?.nextFrame() {
            lastFrameAt = now
            process(frame)
        } else if let camera, camera.deliversContinuously, cameraFault == nil,
                  now.timeIntervalSince(lastFrameAt ?? createdAt) >= Self.noSignalAfter {
            setCameraFault(.noSignal)
        }
    }

    /// The slowest frame-to-result time this door's settings can work with: a badge
    /// holder's face must be recognised in `frames_required` frames within the badge
    /// window.
    var workableLag: TimeInterval { face.badgeWindow / Double(face.framesRequired) }

    /// Records how far behind the camera recognition runs; over `workableLag`, logs an
    /// `inference_lag` health event (at most once a minute) with a hint.
    private func noteLag(capturedAt: Date) {
        let lag = max(0, now.timeIntervalSince(capturedAt))
        inferenceLag = lag
        guard lag > workableLag, lastLagReport.map({ now.timeIntervalSince($0) >= Self.lagReportInterval }) ?? true else { return }
        lastLagReport = now
        let hint = "use smaller frames (camera width/height), a higher upsample only where faces are small, fewer cameras per board, or a longer badge_window"
        site.record(AuditEvent(at: now, kind: .system, type: "system.inference_lag", door: id, camera: camera?.name,
                               detail: ["seconds_per_frame": String(format: "%.1f", lag), "workable_s": String(format: "%.1f", workableLag),
                                        "frames_required": String(face.framesRequired), "badge_window_s": String(format: "%.1f", face.badgeWindow),
                                        "hint": hint], siteTimeZone: site.policy.timeZone))
        site.timeline(id, String(format: "SLOW: %.1f s from frame to result, more than the %.1f s these settings work with (%d frames in a %.0f s badge window); decisions come late. Hint: %@",
                                 lag, workableLag, face.framesRequired, face.badgeWindow, hint))
    }
    static let lagReportInterval: TimeInterval = 60

    /// Holds the driver in the mode the policy and site state give now.
    func syncMode() {
        guard let door else { return }
        let mode: DoorHardwareMode
        switch site.engine.effectiveMode(door: door, at: now, state: site.state) {
        case .normal: mode = .normal
        case .locked: mode = .lockedDown
        case .unlocked: mode = .unlocked
        case .emergencyRelease: mode = .emergencyRelease
        }
        if driver.machine.mode != mode { for r in driver.setMode(mode) { handle(r) } }
    }

    func handle(_ report: DoorReport) {
        switch report {
        case .door(let e, let detail):
            site.record(AuditEvent(at: now, kind: .door, type: "door.\(e.rawValue)", door: id, zone: door?.into,
                                   detail: detail.map { ["detail": $0] }, siteTimeZone: site.policy.timeZone))
            site.timeline(id, DoorController.describe(e, detail))
        case .badge(let read):
            switch read {
            case .card(let format, let facility, let card): badgeRead(format: format, facility: facility, card: card)
            case .rejected(let reason, let bits):
                site.record(AuditEvent(at: now, kind: .system, type: "reader.rejected", door: id, reader: id,
                                       detail: ["reason": reason, "bits": String(bits)], siteTimeZone: site.policy.timeZone))
                site.timeline(id, "reader: frame rejected (\(reason))")
            }
        case .fault(let why):
            site.record(AuditEvent(at: now, kind: .system, type: "system.hardware_fault", door: id, detail: ["reason": why], siteTimeZone: site.policy.timeZone))
            site.timeline(id, "HARDWARE FAULT: \(why)")
        case .reader(let input):
            readerReported(input)
        }
    }

    /// A networked reader's state: each change is audited, and the ones a guard must act
    /// on (offline, Secure Channel refused, power) are alarms.
    func readerReported(_ input: ReaderInput) {
        let reader = driver.reader?.label
        func record(_ type: String, _ detail: [String: String], _ line: String) {
            site.record(AuditEvent(at: now, kind: .system, type: type, door: id, reader: reader, detail: detail.isEmpty ? nil : detail, siteTimeZone: site.policy.timeZone))
            site.timeline(id, line)
        }
        switch input {
        case .card, .tamper: break  // the driver turns these into badges and door alarms
        case .keypad(let keys):
            // The keys are a PIN in waiting: never written anywhere, only counted.
            record("reader.keypad", ["keys": String(keys.count)], "keypad: \(keys.count) key(s) (no PIN factor at this door)")
        case .power(let ok):
            record(ok ? "reader.power_restored" : "reader.power_failed", [:], ok ? "reader power restored" : "ALARM: reader reports a power failure")
        case .online(let secure):
            record("reader.online", ["secure_channel": secure ? "active" : "off"], "reader online" + (secure ? " (Secure Channel)" : " WITHOUT Secure Channel"))
        case .offline(let reason):
            record("reader.offline", ["reason": reason], "ALARM: reader offline: \(reason); badges at this door cannot be read")
        case .secureChannelRefused(let reason):
            record("reader.secure_channel_refused", ["reason": reason], "ALARM: reader refused: \(reason)")
        case .keyChanged(let ok, let detail):
            record(ok ? "reader.key_changed" : "reader.key_change_failed", ["detail": detail], ok ? "reader key changed" : "reader key NOT changed: \(detail)")
        case .fault(let why):
            record("system.hardware_fault", ["reason": why], "HARDWARE FAULT: \(why)")
        }
    }

    static func describe(_ e: DoorEvent, _ detail: String?) -> String {
        switch e {
        case .released: return "lock released" + (detail == "rex" ? " (exit button)" : "")
        case .opened: return "door opened"
        case .closed: return "door closed"
        case .relocked: return "lock relocked"
        case .grantedNotOpened: return "granted, but nobody opened the door"
        case .requestToExit: return "exit button pressed" + (detail.map { " (\($0))" } ?? "")
        case .heldOpenPrealarm: return "WARNING: door still open (\(detail ?? ""))"
        case .heldOpen: return "ALARM: door held open (\(detail ?? ""))"
        case .heldOpenCleared: return "held-open alarm cleared"
        case .forcedOpen: return "ALARM: door forced open (\(detail ?? ""))"
        case .forcedOpenCleared: return "forced-open alarm cleared"
        case .tamper: return "ALARM: tamper"
        case .tamperCleared: return "tamper cleared"
        case .modeChanged: return "door mode: \(detail ?? "")"
        case .emergencyRelease: return "EMERGENCY RELEASE"
        }
    }

    // MARK: Badges

    func badgeRead(format: String, facility: Int, card: Int64) {
        let text = "\(facility):\(card)"
        guard let badgeFormat = BadgeFormat(rawValue: format), let credential = try? BadgeCredential(format: badgeFormat, facilityCode: facility, cardNumber: card) else {
            decide(person: nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: "card format \(format) is not enrolled")
            return
        }
        // A failed read is its own reason, never "not issued": see `decide(storageError:)`.
        let badge: Badge?, person: Person?
        do {
            badge = try site.db.badges.lookup(credential)
            person = try badge.flatMap { try site.db.people.get($0.personId) }
        } catch {
            decide(person: nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: nil, storageError: error)
            return
        }
        guard let badge, let person else {
            decide(person: nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: "badge \(text) is not issued")
            return
        }
        if badge.status == .revoked {
            decide(person: person, badge: .revoked, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: nil)
            return
        }
        guard let door else { return }
        let required = site.engine.factors(for: door, at: now, cameraFault: cameraFault != nil || livenessOutOfService)
        if required == .badgeAndFace && livenessOutOfService {
            decide(person: person, badge: .valid, credential: text, succeeded: [.badge], failed: [], faceEvidence: nil,
                   note: "the face factor is out of service: liveness is required and \(site.livenessProblemSummary ?? "no PAD model is loaded")",
                   liveness: .unavailable)
        } else if required == .badgeAndFace {
            pendingBadge = PendingBadge(credential: text, person: person, until: now.addingTimeInterval(face.badgeWindow))
            // A new badge is a new request: faces already in view are looked at afresh, in
            // frames captured from now on.
            for track in evidence.keys { pipeline.settle(track: track, until: nil) }
            evidence = [:]
            evidenceSince = now
            site.timeline(id, "badge \(text) read (#\(person.id!) \(person.displayName)): look at the camera")
            driver.signalLookAtCamera()
        } else {
            decide(person: person, badge: .valid, credential: text, succeeded: [.badge], failed: [], faceEvidence: nil, note: nil)
        }
    }

    // MARK: Faces

    /// `since`: the capture time of the frame that showed the change (now, for a camera gone
    /// silent); frames captured earlier are no evidence afterwards.
    func setCameraFault(_ fault: CameraHealth.Fault?, since: Date? = nil) {
        guard fault != cameraFault else { return }
        cameraFault = fault
        // Frames missed or unusable meanwhile: the face in view afterwards is looked at afresh.
        pipeline.reset()
        evidence = [:]
        evidenceSince = since ?? now
        if let fault {
            site.record(AuditEvent(at: now, kind: .system, type: "system.camera_fault", door: id, camera: camera?.name,
                                   detail: ["fault": fault.rawValue, "fallback": fallbackText], siteTimeZone: site.policy.timeZone))
            site.timeline(id, "CAMERA FAULT: \(fault.rawValue.replacingOccurrences(of: "_", with: " ")); \(fallbackText) until it recovers")
        } else {
            site.record(AuditEvent(at: now, kind: .system, type: "system.camera_recovered", door: id, camera: camera?.name, siteTimeZone: site.policy.timeZone))
            site.timeline(id, "camera recovered")
        }
    }

    /// The door's liveness now, and whether it can ever be required: taken once a step (a
    /// schedule or a reload may change them), not for every face and every frame.
    private(set) var livenessRequired = false
    private var livenessMayBeRequired = false

    private func refreshLiveness() {
        guard let door else { livenessRequired = false; livenessMayBeRequired = false; return }
        livenessRequired = site.engine.liveness(for: door, at: now) == .required
        livenessMayBeRequired = site.engine.mayRequireLiveness(door)
    }

    /// Liveness is required here now and no PAD model is loaded: the face factor is out of
    /// service (the door's camera_fallback applies), and faces are not processed.
    var livenessOutOfService: Bool { site.liveness == nil && livenessRequired }

    /// What presentation-attack detection says of a track, for the policy.
    func livenessFact(_ ev: TrackEvidence) -> LivenessFact {
        guard livenessRequired else { return .notChecked }
        guard site.liveness != nil else { return .unavailable }
        switch ev.liveness.verdict(face.liveness) {
        case .live: return .live
        case .attack: return .attack
        case .unsure: return .unsure
        }
    }

    /// A track whose match is settled but whose liveness is still short of frames waits for
    /// more (up to `maximum_frames`), asking the pipeline for fresh ones.
    private func awaitingLiveness(_ ev: TrackEvidence, track: Int, frames: Int) -> Bool {
        guard livenessFact(ev) == .unsure, frames < face.maximumFrames else { return false }
        pipeline.wantEvidence(track: track)
        return true
    }

    func livenessRecord(_ ev: TrackEvidence) -> LivenessEvidenceRecord? {
        guard livenessRequired || !ev.liveness.scores.isEmpty else { return nil }
        return LivenessEvidenceRecord(verdict: livenessFact(ev).rawValue, required: livenessRequired,
                                      scores: ev.liveness.scores.map { ($0 * 1000).rounded() / 1000 },
                                      framesRequired: face.liveness.framesRequired, threshold: face.liveness.threshold,
                                      problem: ev.livenessProblem ?? (livenessOutOfService ? site.livenessProblemSummary : nil))
    }

    /// What the door does without its camera, for the log.
    var fallbackText: String {
        door?.cameraFallback == .badge ? "face factor unavailable: badge alone accepted (camera_fallback: badge)" : "face factor unavailable: deny"
    }

    func process(_ frame: Frame) {
        site.latestFrames.put(id, frame)
        if let change = health.check(frame.image, at: frame.at) { setCameraFault(change, since: frame.at) }
        else if cameraFault == .noSignal { setCameraFault(health.fault, since: frame.at) }   // frames again
        guard cameraFault == nil, !livenessOutOfService, let door else { return }
        let required = site.engine.factors(for: door, at: now)
        let wantsFace = pendingBadge != nil || required == .face || required == .badgeOrFace
        guard wantsFace else { return }
        // PAD runs only where liveness can be required (the policy may change on reload):
        // elsewhere it would cost time and decide nothing.
        pipeline.setScoresLiveness(livenessMayBeRequired)
        if let worker {
            worker.submit(frame)
            return
        }
        do {
            let observation = try pipeline.process(frame, engine: site.faceEngine, liveness: site.liveness, second: site.secondRecognizer)
            // A simulated slow board: the result arrives as late as it would there.
            site.inlineInferenceDone?()
            consider(observation)
        } catch {
            site.timeline(id, "face engine error: \(error)")
        }
    }

    /// Turns what the engine saw into evidence per tracked face, and decisions.
    func consider(_ observation: FaceObservation) {
        noteLag(capturedAt: observation.at)
        // A frame captured before the door last started afresh is no evidence now, nor is one
        // captured after a badge window closed.
        if observation.at < evidenceSince { return }
        if let p = pendingBadge, observation.at > p.until { return }
        for tf in observation.faces {
            var ev = evidence[tf.track] ?? TrackEvidence()
            defer { evidence[tf.track] = ev }
            if let e = tf.embedding {
                if let ref = ev.reference, DistanceMetric.euclidean.distance(ref, e.values) > Self.differentPerson {
                    ev = TrackEvidence()                 // someone else in the same place
                    pipeline.settle(track: tf.track, until: nil)
                }
                if ev.reference == nil { ev.reference = e.values }
            }
            if ev.decided, let d = ev.deniedAt, observation.at.timeIntervalSince(d) >= Self.redecideAfter {
                ev = TrackEvidence(countedFailure: ev.countedFailure, reference: ev.reference)
            }
            if ev.decided { continue }
            if let score = tf.liveness { ev.liveness.add(score.bonaFide) }
            if let problem = tf.livenessError { ev.livenessProblem = problem }
            if let pending = pendingBadge {
                verifyFace(tf, pending: pending, evidence: &ev)
            } else {
                identifyFace(tf, evidence: &ev, at: observation.at)
            }
        }
        evidence = evidence.filter { observation.liveTracks.contains($0.key) }
    }

    /// Badge+face: the face must be the badge holder's in `framesRequired` embedded frames
    /// holding a weighted majority.
    private func verifyFace(_ tf: TrackedFace, pending: PendingBadge, evidence ev: inout TrackEvidence) {
        var last: Verification? = nil
        if let e = tf.embedding {
            let (v, by) = site.verify(e.values, second: tf.secondEmbedding?.values, person: pending.person.id!)
            ev.verified.append((v.match, true, tf.quality))
            last = v
            ev.decidedBy = by
            if Set(ev.verified.filter(\.fresh).map(\.ok)).count > 1 { pipeline.wantEvidence(track: tf.track) }
        } else if let previous = ev.verified.last {
            ev.verified.append((previous.ok, false, tf.quality))
        } else { return }
        let matched = ev.verified.filter(\.ok)
        let share = matched.map(\.weight).reduce(0, +) / max(1e-9, ev.verified.map(\.weight).reduce(0, +))
        func evidence() -> FaceEvidence {
            FaceEvidence(distance: last?.distance, threshold: last?.threshold ?? site.verifier.thresholds.verify, margin: last?.margin,
                         quality: tf.face.landmarks.interEyeDistance, frames: ev.verified.count, modelID: ev.decidedBy ?? site.faceEngine.modelID,
                         liveness: livenessRecord(ev))
        }
        if matched.filter(\.fresh).count >= face.framesRequired && share >= Self.weightedMajority {
            if awaitingLiveness(ev, track: tf.track, frames: ev.verified.count) { return }
            ev.decided = true; pendingBadge = nil
            pipeline.settle(track: tf.track, until: .distantFuture)
            let allowed = decide(person: pending.person, badge: .valid, credential: pending.credential, succeeded: [.badge, .face], failed: [],
                                 faceEvidence: evidence(), note: livenessNote(ev), liveness: livenessFact(ev))
            if allowed, let e = tf.embedding {
                site.considerTemplateUpdate(person: pending.person, probe: e, face: tf.face, door: id, live: livenessFact(ev) == .live, badgeMatched: true)
                site.considerSecondTemplate(person: pending.person, probe: e, second: tf.secondEmbedding, face: tf.face, door: id,
                                            live: livenessFact(ev) == .live, badgeMatched: true)
            }
        } else if ev.verified.count >= face.maximumFrames {
            ev.decided = true; pendingBadge = nil
            pipeline.settle(track: tf.track, until: .distantFuture)
            decide(person: pending.person, badge: .valid, credential: pending.credential, succeeded: [.badge], failed: [.face],
                   faceEvidence: evidence(), note: "the face did not match the badge holder in \(matched.count) of \(ev.verified.count) frames",
                   liveness: livenessFact(ev))
        }
    }

    /// Face only: one enrolled person must be named in `framesRequired` embedded frames
    /// holding a weighted majority of all the track's votes (including "nobody").
    private func identifyFace(_ tf: TrackedFace, evidence ev: inout TrackEvidence, at: Date) {
        var result: Identification? = nil
        if let e = tf.embedding {
            let (r, by) = site.identify(e.values, second: tf.secondEmbedding?.values)
            ev.decidedBy = r.candidates.first.flatMap { by[$0.personID] } ?? e.modelID
            var who: Int64? = nil
            if case .identified(let pid) = r.outcome { who = pid }
            ev.identified.append((who, true, tf.quality))
            if case .notRecognized(let why) = r.outcome { ev.lastMiss = why }
            result = r
            if Set(ev.identified.filter(\.fresh).map(\.person)).count > 1 { pipeline.wantEvidence(track: tf.track) }
        } else if let previous = ev.identified.last {
            ev.identified.append((previous.person, false, tf.quality))
        } else { return }
        let total = max(1e-9, ev.identified.map(\.weight).reduce(0, +))
        let byPerson = Dictionary(grouping: ev.identified.filter { $0.person != nil }, by: { $0.person! })
        let best = byPerson.map { (pid: $0.key, n: $0.value.filter(\.fresh).count, share: $0.value.map(\.weight).reduce(0, +) / total) }
            .max { $0.share < $1.share }
        let faceEvidence = FaceEvidence(distance: result?.candidates.first?.distance, threshold: result?.threshold ?? 0, margin: result?.margin,
                                        quality: tf.face.landmarks.interEyeDistance, frames: ev.identified.count,
                                        modelID: ev.decidedBy ?? site.faceEngine.modelID,
                                        liveness: livenessRecord(ev))
        if let best, best.n >= face.framesRequired, best.share >= Self.weightedMajority {
            if awaitingLiveness(ev, track: tf.track, frames: ev.identified.count) { return }
            ev.decided = true
            let person: Person?, readError: Error?
            do { person = try site.db.people.get(best.pid); readError = nil } catch { person = nil; readError = error }
            let allowed = decide(person: person, badge: .none, credential: nil, succeeded: [.face], failed: [], faceEvidence: faceEvidence,
                                 note: livenessNote(ev), countsTowardLockout: !ev.countedFailure, storageError: readError, liveness: livenessFact(ev))
            if !allowed { ev.deniedAt = at; ev.countedFailure = true }
            // Only this frame's own embedding, and only if it named the same person.
            if allowed, let person, let e = tf.embedding, case .identified(let named)? = result?.outcome, named == best.pid {
                site.considerTemplateUpdate(person: person, probe: e, face: tf.face, door: id, live: livenessFact(ev) == .live, badgeMatched: nil)
                site.considerSecondTemplate(person: person, probe: e, second: tf.secondEmbedding, face: tf.face, door: id,
                                            live: livenessFact(ev) == .live, badgeMatched: nil)
            }
            pipeline.settle(track: tf.track, until: allowed ? .distantFuture : at.addingTimeInterval(Self.redecideAfter))
        } else if ev.identified.count >= face.maximumFrames {
            ev.decided = true
            var reason = "not recognized"
            if best == nil, let r = ev.lastMiss {
                switch r {
                case .tooFar: reason = "no enrolled face is close enough"
                case .ambiguous: reason = "two enrolled people are too alike to tell apart"
                case .inactive: reason = "looks like someone who is suspended or outside their dates"
                case .emptyGallery: reason = "nobody is enrolled"
                }
            } else if best != nil {
                reason = "the frames did not agree on one person (\(ev.identified.filter { $0.person != nil }.count) of \(ev.identified.count) named someone)"
            }
            decide(person: nil, badge: .none, credential: nil, succeeded: [], failed: [.face], faceEvidence: faceEvidence, note: livenessNote(ev) ?? reason,
                   countsTowardLockout: !ev.countedFailure, liveness: livenessFact(ev))
            ev.deniedAt = at
            ev.countedFailure = true
            pipeline.settle(track: tf.track, until: at.addingTimeInterval(Self.redecideAfter))
        }
    }

    /// Words a guard can act on when liveness decided.
    func livenessNote(_ ev: TrackEvidence) -> String? {
        let mean = ev.liveness.mean.map { String(format: "%.3f", $0) } ?? "-"
        switch livenessFact(ev) {
        case .attack:
            return "the face looked like a photo or a screen held to the camera (mean bona fide score \(mean) over \(ev.liveness.frames) frames, below \(String(format: "%.3f", face.liveness.threshold))): check who is at the door"
        case .unsure:
            return "liveness could not be confirmed: \(ev.liveness.frames) of \(face.liveness.framesRequired) frames scored\(ev.livenessProblem.map { " (\($0))" } ?? ""); ask the person to face the camera and hold still"
        default: return nil
        }
    }

    // MARK: Decisions

    /// Decides, acts and records; returns whether access was granted.
    ///
    /// `storageError`: reading the identity database failed (a damaged page, an I/O error).
    /// The request is denied with the reason `storage_error`, alarmed, and not counted
    /// toward a lockout: a read error must never show as a credential reason such as
    /// badge_unknown or no_grant, which would send people looking in the wrong place.
    @discardableResult
    func decide(person: Person?, badge: AccessRequest.BadgeFact, credential: String?, succeeded: Set<Factor>, failed: Set<Factor>,
                faceEvidence: FaceEvidence?, note: String?, countsTowardLockout: Bool = true, storageError: Error? = nil,
                liveness: LivenessFact = .notChecked) -> Bool {
        guard let door else { return false }
        var reasons: [String]
        var decision: Decision? = nil
        var storageError = storageError
        var groups: Set<String> = []
        if storageError == nil, let p = person {
            do { groups = try site.db.access.groups(of: p.id!) } catch { storageError = error }
        }
        var note = note
        if let storageError {
            reasons = ["storage_error"]
            note = "the identity database could not be read: \(storageError)"
            site.record(AuditEvent(at: now, kind: .system, type: "system.storage_error", door: id, detail: ["reason": "\(storageError)"],
                                   siteTimeZone: site.policy.timeZone))
            site.timeline(id, "ALARM storage error reading the identity database: \(storageError)")
        } else if let until = lockedOutUntil, now < until {
            reasons = ["lockout"]
        } else {
            lockedOutUntil = nil
            let facts = person.map { $0.facts(groups: groups) }
            let d = site.engine.decide(AccessRequest(door: id, time: now, person: facts, badge: badge, succeeded: succeeded, failed: failed,
                                                     cameraFault: cameraFault != nil, liveness: livenessOutOfService ? .unavailable : liveness),
                                        state: site.state)
            site.state.apply(d.changes)
            decision = d
            reasons = d.reasons.map(\.rawValue)
        }
        let allow = decision?.allow ?? false
        var reports: [DoorReport] = []
        if allow, case .release(let seconds) = decision!.action { reports = driver.grant(strikeTime: seconds) }
        let pending = reasons.contains("two_person_pending") || reasons.contains("escort_required")
        if !pending { driver.signal(granted: allow) }
        if !allow && !pending && countsTowardLockout && storageError == nil { noteFailure() }
        var factors: [FactorResult] = []
        if badge != .none { factors.append(FactorResult(factor: "badge", ok: badge == .valid, detail: credential)) }
        if let faceEvidence { factors.append(FactorResult(factor: "face", ok: succeeded.contains(.face), detail: "\(faceEvidence.frames) frames")) }
        site.record(AuditEvent(at: now, kind: .decision, type: allow ? "access.granted" : "access.denied", door: id, zone: door.into,
                               reader: id, camera: camera?.name, badge: credential, personID: person?.id, personName: person?.displayName,
                               result: allow ? "granted" : "denied", factors: factors, face: faceEvidence, rule: decision?.rule ?? (storageError != nil ? "storage_error" : "lockout"),
                               reasons: reasons, doorAction: decision?.action.summary ?? "stayed locked",
                               detail: note.map { ["note": $0] }, siteTimeZone: site.policy.timeZone))
        let who = person.map { "#\($0.id!) \($0.displayName)" } ?? "unknown person"
        let how = [credential.map { "badge \($0)" }, faceEvidence.map { e in
            (e.distance.map { String(format: "face %.3f/%.3f over %d frames", $0, e.threshold, e.frames) } ?? "face over \(e.frames) frames")
                + (e.liveness.map { l in l.scores.isEmpty ? ", liveness \(l.verdict)" : String(format: ", liveness %@ %.3f/%.3f over %d frames", l.verdict,
                                                                                        l.scores.reduce(0, +) / Double(l.scores.count), l.threshold, l.scores.count) } ?? "") }]
            .compactMap { $0 }.joined(separator: " + ")
        let verdict = allow ? "GRANTED" : (pending ? "WAITING" : "DENIED")
        site.timeline(id, "\(verdict) \(who)\(how.isEmpty ? "" : " [\(how)]")" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: ", "))
                      + (note.map { " (\($0))" } ?? "") + (decision.map { " (rule \($0.rule))" } ?? ""))
        for r in reports { handle(r) }
        return allow
    }

    // MARK: Remote commands

    /// A remote command that passed the broker-side checks, decided by the policy engine:
    /// a release pulses the strike as a grant does (an access decision, audited as one,
    /// with the `remote` factor and who asked); a lockdown or its clearing changes the
    /// door's mode (an admin event). Refusals are audited the same way, never acted on.
    func remote(_ command: RemoteCommand) {
        guard let door else { return }
        let request = RemoteRequest(door: id, time: now, action: command.action, requester: command.requestedBy)
        let d = site.engine.decide(request, state: site.state)
        site.state.apply(d.changes)
        let origin = ["channel": "mqtt", "topic": command.topic, "requested_by": command.requestedBy]
        let who = "mqtt:\(command.requestedBy)"
        let why = d.explanation.last ?? ""
        switch command.action {
        case .release:
            var reports: [DoorReport] = []
            if d.allow, case .release(let seconds) = d.action { reports = driver.grant(strikeTime: seconds) }
            site.record(AuditEvent(at: now, kind: .decision, type: d.allow ? "access.granted" : "access.denied", door: id, zone: door.into,
                                   result: d.allow ? "granted" : "denied",
                                   factors: [FactorResult(factor: Factor.remote.rawValue, ok: d.allow, detail: command.requestedBy)],
                                   rule: d.rule, reasons: d.reasons.map(\.rawValue), doorAction: d.action.summary, operator: who,
                                   detail: origin.merging(["note": why]) { a, _ in a }, siteTimeZone: site.policy.timeZone))
            site.timeline(id, "\(d.allow ? "GRANTED" : "DENIED") remote release requested by \(command.requestedBy) over MQTT: "
                              + d.reasons.map(\.rawValue).joined(separator: ", ") + " (rule \(d.rule))")
            for r in reports { handle(r) }
        case .lockdown, .clearLockdown:
            let type = !d.allow ? "admin.remote_command_refused" : command.action == .lockdown ? "admin.door_lockdown" : "admin.door_lockdown_cleared"
            site.record(AuditEvent(at: now, kind: .admin, type: type, door: id, zone: door.into, result: d.allow ? "done" : "refused",
                                   rule: d.rule, reasons: d.reasons.map(\.rawValue), operator: who,
                                   detail: origin.merging(["command": command.action.rawValue, "note": why]) { a, _ in a }, siteTimeZone: site.policy.timeZone))
            site.timeline(id, (d.allow ? (command.action == .lockdown ? "LOCKDOWN" : "lockdown cleared") : "REFUSED remote \(command.action.rawValue)")
                              + " (requested by \(command.requestedBy) over MQTT): \(why)")
            if d.allow && !d.changes.isEmpty {
                syncMode()
                site.doorModesChanged()
            }
        }
    }

    private func noteFailure() {
        failures.append(now)
        failures.removeAll { now.timeIntervalSince($0) > lockout.window }
        if failures.count >= lockout.attempts, lockedOutUntil == nil {
            lockedOutUntil = now.addingTimeInterval(lockout.duration)
            failures.removeAll()
            site.record(AuditEvent(at: now, kind: .system, type: "system.lockout", door: id, reader: id,
                                   detail: ["attempts": String(lockout.attempts), "window_s": String(Int(lockout.window)), "duration_s": String(Int(lockout.duration))],
                                   siteTimeZone: site.policy.timeZone))
            site.timeline(id, "LOCKOUT: \(lockout.attempts) failed attempts in \(Int(lockout.window))s; reader refuses for \(Int(lockout.duration))s")
        }
    }

    var nextDeadline: Date? { [driver.nextDeadline, pendingBadge?.until].compactMap { $0 }.min() }
}
