import Audit
import Capture
import DoorIO
import FaceKit
import Foundation
import Integrations
import Matching
import Policy
import Storage
import WardenCore

/// One door's loop: reads the camera and the reader, turns faces and badges into factors,
/// asks the policy, drives the door. Everything it reaches is a port (`DoorPorts`); what it
/// records is worded by `DoorLog`, how a track's votes add up by `TrackEvidence`.
public final class DoorController {
    public let id: String
    public let driver: DoorDriver
    public let camera: (any FrameSource)?
    public let face: FaceSettings
    public let ports: DoorPorts
    private let log: DoorLog

    private var evidence: [Int: TrackEvidence] = [:]
    private var pendingBadge: PendingBadge?
    /// Only frames captured from this time on are evidence: set when a badge is read (a
    /// frame from before it, still being recognised on a slow board, may show the previous
    /// person) and when the camera faults or recovers (its frames in flight were seen
    /// before the gap, not by a camera that watched all along).
    private var evidenceSince = Date.distantPast
    private var lockout: ReaderLockout
    private var watch: CameraWatch
    public private(set) var cameraFault: CameraHealth.Fault?
    /// Frame-to-result time of the last processed frame (capture to the controller seeing
    /// its faces): how far behind the camera this door's recognition runs.
    public var inferenceLag: TimeInterval? { watch.lag }
    private(set) var liveness: DoorLiveness
    /// Unit-vector distance beyond which two faces of one track are taken to be different
    /// people (well past any same-person distance measured: max 0.47).
    static let differentPerson = 0.55
    /// A face denied and still in view is evaluated again after this long.
    static let redecideAfter: TimeInterval = 5

    struct PendingBadge {
        var credential: String
        var holder: PersonAtDoor
        var until: Date
    }

    public init(id: String, driver: DoorDriver, camera: (any FrameSource)?, face: FaceSettings, lockout: LockoutSettings, ports: DoorPorts) {
        self.id = id; self.driver = driver; self.camera = camera; self.face = face; self.ports = ports
        self.lockout = ReaderLockout(lockout)
        self.log = DoorLog(door: id, camera: camera?.name, events: ports.events, access: ports.access, clock: ports.clock)
        self.liveness = DoorLiveness(availability: ports.liveness, rule: face.liveness)
        self.watch = CameraWatch(since: ports.clock.now)
        // The exit button of an interlocked door waits for the rest of its group, unless the
        // door is an escape route (`exit_route: true`).
        driver.exitRefusal = { [access = ports.access, id] in access.engine.exitRefusal(door: id, state: access.state) }
        publishDoorNow()
    }

    var door: Door? { ports.access.door(id) }
    var now: Date { ports.clock.now }
    private var faces: (any DoorFaces)? { ports.faces }

    // MARK: The loop

    public func step() {
        liveness.refresh(door: door, engine: ports.access.engine, at: now)
        syncMode()
        for report in driver.pump() { handle(report) }
        // Results first: a face captured inside a badge window counts even when the board
        // took longer than the window to recognise it.
        for observation in faces?.take() ?? [] { consider(observation) }
        // The window closes by the camera's time, not the wall's: once the deadline has
        // passed and no frame captured before it is still being recognised. On a slow
        // board the decision comes later; it is never lost to the wait.
        if let p = pendingBadge, now >= p.until, !(faces?.hasFrame(capturedBefore: p.until) ?? false) {
            pendingBadge = nil
            decide(p.holder, badge: .valid, credential: p.credential, succeeded: [.badge], failed: [],
                   faceEvidence: nil, note: "no face shown within \(Int(face.badgeWindow))s of the badge")
        }
        publishDoorNow()
        if let frame = try? camera?.nextFrame() {
            process(frame)
        } else if let camera, camera.deliversContinuously, cameraFault == nil, watch.silent(at: now) {
            setCameraFault(.noSignal)
        }
    }

    /// The slowest frame-to-result time this door's settings can work with: a badge
    /// holder's face must be recognised in `frames_required` frames within the badge
    /// window.
    var workableLag: TimeInterval { face.badgeWindow / Double(face.framesRequired) }

    /// The lock and contact as the other doors' interlocks see them.
    private func publishDoorNow() {
        ports.access.state.doorsNow[id] = DoorNow(lockReleased: driver.machine.lockReleased, open: driver.machine.contactOpen)
    }

    /// Holds the driver in the mode the policy and site state give now.
    func syncMode() {
        guard let door else { return }
        let mode: DoorHardwareMode
        switch ports.access.effectiveMode(door, at: now) {
        case .normal: mode = .normal
        case .locked: mode = .lockedDown
        case .unlocked: mode = .unlocked
        case .emergencyRelease: mode = .emergencyRelease
        }
        if driver.machine.mode != mode { for r in driver.setMode(mode) { handle(r) } }
    }

    func handle(_ report: DoorReport) {
        switch report {
        case .door(let e, let detail): log.doorEvent(e, detail)
        case .badge(.card(let format, let facility, let card)): badgeRead(format: format, facility: facility, card: card)
        case .badge(.rejected(let reason, let bits)): log.readerRejected(reason: reason, bits: bits)
        case .fault(let why): log.hardwareFault(why)
        case .reader(let input): log.reader(input, label: driver.reader?.label)
        }
    }

    // MARK: Badges

    func badgeRead(format: String, facility: Int, card: Int64) {
        let text = "\(facility):\(card)"
        guard let badgeFormat = BadgeFormat(rawValue: format), let credential = try? BadgeCredential(format: badgeFormat, facilityCode: facility, cardNumber: card) else {
            decide(nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: "card format \(format) is not enrolled")
            return
        }
        // A failed read is its own reason, never "not issued": see `decide(storageError:)`.
        let holder: PersonAtDoor
        do {
            switch try ports.identity.badge(credential) {
            case .notIssued:
                decide(nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: "badge \(text) is not issued")
                return
            case .revoked(let person):
                decide(person, badge: .revoked, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: nil)
                return
            case .issued(let person): holder = person
            }
        } catch {
            decide(nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: nil, storageError: error)
            return
        }
        guard let door else { return }
        let required = ports.access.engine.factors(for: door, at: now, cameraFault: cameraFault != nil || liveness.outOfService)
        if required == .badgeAndFace && liveness.outOfService {
            decide(holder, badge: .valid, credential: text, succeeded: [.badge], failed: [], faceEvidence: nil,
                   note: "the face factor is out of service: liveness is required and \(ports.liveness.problem ?? "no PAD model is loaded")",
                   liveness: .unavailable)
        } else if required == .badgeAndFace {
            pendingBadge = PendingBadge(credential: text, holder: holder, until: now.addingTimeInterval(face.badgeWindow))
            // A new badge is a new request: faces already in view are looked at afresh, in
            // frames captured from now on.
            for track in evidence.keys { faces?.settle(track: track, until: nil) }
            evidence = [:]
            evidenceSince = now
            log.line("badge \(text) read (#\(holder.id) \(holder.person.displayName)): look at the camera")
            driver.signalLookAtCamera()
        } else {
            decide(holder, badge: .valid, credential: text, succeeded: [.badge], failed: [], faceEvidence: nil, note: nil)
        }
    }

    // MARK: Faces

    /// `since`: the capture time of the frame that showed the change (now, for a camera gone
    /// silent); frames captured earlier are no evidence afterwards.
    func setCameraFault(_ fault: CameraHealth.Fault?, since: Date? = nil) {
        guard fault != cameraFault else { return }
        cameraFault = fault
        // Frames missed or unusable meanwhile: the face in view afterwards is looked at afresh.
        faces?.reset()
        evidence = [:]
        evidenceSince = since ?? now
        log.cameraFault(fault, fallback: fallbackText)
    }

    /// What the door does without its camera, for the log.
    var fallbackText: String {
        door?.cameraFallback == .badge ? "face factor unavailable: badge alone accepted (camera_fallback: badge)" : "face factor unavailable: deny"
    }

    func process(_ frame: Frame) {
        ports.latestFrames?.put(id, frame)
        if let change = watch.frame(frame, at: now, current: cameraFault) { setCameraFault(change, since: frame.at) }
        guard cameraFault == nil, !liveness.outOfService, let door, let faces else { return }
        let required = ports.access.engine.factors(for: door, at: now)
        guard pendingBadge != nil || required == .face || required == .badgeOrFace else { return }
        // PAD runs only where liveness can be required (the policy may change on reload):
        // elsewhere it would cost time and decide nothing.
        faces.setScoresLiveness(liveness.mayBeRequired)
        do {
            if let observation = try faces.submit(frame) { consider(observation) }
        } catch {
            log.line("face engine error: \(error)", severity: .warning)
        }
    }

    /// Turns what the engine saw into evidence per tracked face, and decisions.
    func consider(_ observation: FaceObservation) {
        // Over `workableLag`: an `inference_lag` health event (at most once a minute) with a hint.
        if watch.lagOverdue(capturedAt: observation.at, now: now, workable: workableLag), let lag = watch.lag {
            log.inferenceLag(lag, workable: workableLag, face: face)
        }
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
                    faces?.settle(track: tf.track, until: nil)
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

    private func faceEvidence(_ ev: TrackEvidence, _ tf: TrackedFace, distance: Double?, threshold: Double, margin: Double?, frames: Int) -> FaceEvidence {
        FaceEvidence(distance: distance, threshold: threshold, margin: margin, quality: tf.face.landmarks.interEyeDistance, frames: frames,
                     modelID: ev.decidedBy ?? ports.matcher.gallery.modelID, liveness: liveness.record(ev))
    }

    /// Badge+face: the face must be the badge holder's in `framesRequired` embedded frames
    /// holding a weighted majority.
    private func verifyFace(_ tf: TrackedFace, pending: PendingBadge, evidence ev: inout TrackEvidence) {
        var last: Verification? = nil
        if let e = tf.embedding {
            let (v, by) = ports.matcher.verify(e.values, second: tf.secondEmbedding?.values, person: pending.holder.id)
            ev.verify(match: v.match, weight: tf.quality)
            last = v
            ev.decidedBy = by
            if ev.verificationInDoubt { faces?.wantEvidence(track: tf.track) }
        } else if !ev.verify(match: nil, weight: tf.quality) { return }
        let evidence = faceEvidence(ev, tf, distance: last?.distance, threshold: last?.threshold ?? ports.matcher.thresholds.verify,
                                    margin: last?.margin, frames: ev.verified.count)
        switch ev.verification(framesRequired: face.framesRequired, maximumFrames: face.maximumFrames) {
        case .open: return
        case .agreed:
            if liveness.awaiting(ev, frames: ev.verified.count, maximumFrames: face.maximumFrames) { faces?.wantEvidence(track: tf.track); return }
            ev.decided = true; pendingBadge = nil
            faces?.settle(track: tf.track, until: .distantFuture)
            let allowed = decide(pending.holder, badge: .valid, credential: pending.credential, succeeded: [.badge, .face], failed: [],
                                 faceEvidence: evidence, note: liveness.note(ev), liveness: liveness.fact(ev))
            if allowed, let e = tf.embedding {
                ports.learning?.granted(person: pending.holder.person, probe: e, second: tf.secondEmbedding, face: tf.face, door: id,
                                        live: liveness.fact(ev) == .live, badgeMatched: true)
            }
        case .exhausted:
            ev.decided = true; pendingBadge = nil
            faces?.settle(track: tf.track, until: .distantFuture)
            decide(pending.holder, badge: .valid, credential: pending.credential, succeeded: [.badge], failed: [.face], faceEvidence: evidence,
                   note: "the face did not match the badge holder in \(ev.matchedFrames) of \(ev.verified.count) frames", liveness: liveness.fact(ev))
        }
    }

    /// Face only: one enrolled person must be named in `framesRequired` embedded frames
    /// holding a weighted majority of all the track's votes (including "nobody").
    private func identifyFace(_ tf: TrackedFace, evidence ev: inout TrackEvidence, at: Date) {
        var result: Identification? = nil
        if let e = tf.embedding {
            let now = self.now
            let (r, by) = ports.matcher.identify(e.values, second: tf.secondEmbedding?.values) { [identity = ports.identity] in identity.isEligible($0, at: now) }
            ev.decidedBy = r.candidates.first.flatMap { by[$0.personID] } ?? e.modelID
            var who: Int64? = nil
            if case .identified(let pid) = r.outcome { who = pid }
            if case .notRecognized(let why) = r.outcome { ev.lastMiss = why }
            ev.identify(named: .some(who), weight: tf.quality)
            result = r
            if ev.identificationInDoubt { faces?.wantEvidence(track: tf.track) }
        } else if !ev.identify(named: nil, weight: tf.quality) { return }
        let evidence = faceEvidence(ev, tf, distance: result?.candidates.first?.distance, threshold: result?.threshold ?? 0, margin: result?.margin,
                                    frames: ev.identified.count)
        switch ev.identification(framesRequired: face.framesRequired, maximumFrames: face.maximumFrames) {
        case .open: return
        case .agreed(let named):
            guard let pid = named else { return }
            if liveness.awaiting(ev, frames: ev.identified.count, maximumFrames: face.maximumFrames) { faces?.wantEvidence(track: tf.track); return }
            ev.decided = true
            let holder: PersonAtDoor?, readError: Error?
            do { holder = try ports.identity.person(pid); readError = nil } catch { holder = nil; readError = error }
            let allowed = decide(holder, badge: .none, credential: nil, succeeded: [.face], failed: [], faceEvidence: evidence,
                                 note: liveness.note(ev), countsTowardLockout: !ev.countedFailure, storageError: readError, liveness: liveness.fact(ev))
            if !allowed { ev.deniedAt = at; ev.countedFailure = true }
            // Only this frame's own embedding, and only if it named the same person.
            if allowed, let holder, let e = tf.embedding, case .identified(let named)? = result?.outcome, named == pid {
                ports.learning?.granted(person: holder.person, probe: e, second: tf.secondEmbedding, face: tf.face, door: id,
                                        live: liveness.fact(ev) == .live, badgeMatched: nil)
            }
            faces?.settle(track: tf.track, until: allowed ? .distantFuture : at.addingTimeInterval(Self.redecideAfter))
        case .exhausted:
            ev.decided = true
            decide(nil, badge: .none, credential: nil, succeeded: [], failed: [.face], faceEvidence: evidence, note: liveness.note(ev) ?? DoorLog.missReason(ev),
                   countsTowardLockout: !ev.countedFailure, liveness: liveness.fact(ev))
            ev.deniedAt = at
            ev.countedFailure = true
            faces?.settle(track: tf.track, until: at.addingTimeInterval(Self.redecideAfter))
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
    func decide(_ person: PersonAtDoor?, badge: AccessRequest.BadgeFact, credential: String?, succeeded: Set<Factor>, failed: Set<Factor>,
                faceEvidence: FaceEvidence?, note: String?, countsTowardLockout: Bool = true, storageError: Error? = nil,
                liveness fact: LivenessFact = .notChecked) -> Bool {
        guard door != nil else { return false }
        var outcome = DoorLog.Outcome(person: person, badge: badge, credential: credential, faceSucceeded: succeeded.contains(.face), faceEvidence: faceEvidence,
                                      decision: nil, reasons: [], note: note, storageFailed: storageError != nil, pending: false)
        if let storageError {
            outcome.reasons = ["storage_error"]
            outcome.note = "the identity database could not be read: \(storageError)"
            log.storageError(storageError)
        } else if lockout.refuses(at: now) {
            outcome.reasons = ["lockout"]
        } else {
            let d = ports.access.decide(AccessRequest(door: id, time: now, person: person?.facts, badge: badge, succeeded: succeeded, failed: failed,
                                                      cameraFault: cameraFault != nil, liveness: liveness.outOfService ? .unavailable : fact))
            outcome.decision = d
            outcome.reasons = d.reasons.map(\.rawValue)
        }
        var reports: [DoorReport] = []
        if outcome.allow, case .release(let seconds)? = outcome.decision?.action { reports = driver.grant(strikeTime: seconds); publishDoorNow() }
        outcome.pending = outcome.reasons.contains("two_person_pending") || outcome.reasons.contains("escort_required")
        if !outcome.pending { driver.signal(granted: outcome.allow) }
        if !outcome.allow && !outcome.pending && countsTowardLockout && storageError == nil, lockout.noteFailure(at: now) { log.lockout(lockout.settings) }
        log.decision(outcome)
        for r in reports { handle(r) }
        return outcome.allow
    }

    // MARK: Remote commands

    /// A remote command that passed the broker-side checks, decided by the policy engine:
    /// a release pulses the strike as a grant does (an access decision, audited as one,
    /// with the `remote` factor and who asked); a lockdown or its clearing changes the
    /// door's mode (an admin event). Refusals are audited the same way, never acted on.
    public func remote(_ command: RemoteCommand) {
        guard door != nil else { return }
        let d = ports.access.decide(RemoteRequest(door: id, time: now, action: command.action, requester: command.requestedBy))
        var reports: [DoorReport] = []
        if command.action == .release, d.allow, case .release(let seconds) = d.action { reports = driver.grant(strikeTime: seconds); publishDoorNow() }
        log.remote(command, decision: d)
        for r in reports { handle(r) }
        if command.action != .release, d.allow && !d.changes.isEmpty {
            syncMode()
            ports.modesChanged()
        }
    }

    public var nextDeadline: Date? { [driver.nextDeadline, pendingBadge?.until].compactMap { $0 }.min() }
}
