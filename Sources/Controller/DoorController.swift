import Audit
import Capture
import DoorIO
import FaceKit
import Foundation
import Matching
import Policy
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

    private var tracker = FaceTracker()
    private var evidence: [Int: TrackEvidence] = [:]
    private var pendingBadge: PendingBadge?
    private var failures: [Date] = []
    private var lockedOutUntil: Date?
    private var health = CameraHealth()
    private(set) var cameraFault: CameraHealth.Fault?

    struct PendingBadge {
        var credential: String
        var person: Person
        var until: Date
    }

    struct TrackEvidence {
        var identified: [Int64?] = []
        var verified: [(ok: Bool, distance: Double?)] = []
        var lastIdentification: Identification?
        var lastVerification: Verification?
        var decided = false
        /// When a denial was decided: a face still in view is looked at again after the
        /// cooldown (someone just enrolled, or a schedule that has opened).
        var deniedAt: Date?
        /// A track's denials count once toward the reader lockout, however long it stays.
        var countedFailure = false
        /// The first embedding of the track: a face far from it is someone else who
        /// stepped into the same place, and starts fresh evidence.
        var reference: [Float]?
        var frames: Int { max(identified.count, verified.count) }
    }

    /// Unit-vector distance beyond which two faces of one track are taken to be different
    /// people (well past any same-person distance measured: max 0.47).
    static let differentPerson = 0.55
    /// A face denied and still in view is evaluated again after this long.
    static let redecideAfter: TimeInterval = 5

    init(id: String, driver: DoorDriver, camera: (any FrameSource)?, face: FaceSettings, lockout: LockoutSettings, site: SiteController,
         worker: InferenceWorker? = nil) {
        self.id = id; self.driver = driver; self.camera = camera; self.face = face; self.lockout = lockout; self.site = site; self.worker = worker
    }

    var door: Door? { site.policy.doors[id] }
    var now: Date { site.clock.now }

    // MARK: The loop

    func step() {
        syncMode()
        for report in driver.pump() { handle(report) }
        if let p = pendingBadge, now >= p.until {
            pendingBadge = nil
            decide(person: p.person, badge: .valid, credential: p.credential, succeeded: [.badge], failed: [],
                   faceEvidence: nil, note: "no face shown within \(Int(face.badgeWindow))s of the badge")
        }
        if let frame = try? camera?.nextFrame() { process(frame) }
        for observation in worker?.take() ?? [] { consider(observation) }
    }

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
        let badge = try? site.db.badges.lookup(credential)
        let person = badge.flatMap { try? site.db.people.get($0.personId) } ?? nil
        guard let badge, let person else {
            decide(person: nil, badge: .unknown, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: "badge \(text) is not issued")
            return
        }
        if badge.status == .revoked {
            decide(person: person, badge: .revoked, credential: text, succeeded: [], failed: [], faceEvidence: nil, note: nil)
            return
        }
        guard let door else { return }
        let required = site.engine.factors(for: door, at: now)
        if required == .badgeAndFace {
            pendingBadge = PendingBadge(credential: text, person: person, until: now.addingTimeInterval(face.badgeWindow))
            site.timeline(id, "badge \(text) read (#\(person.id!) \(person.displayName)): look at the camera")
        } else {
            decide(person: person, badge: .valid, credential: text, succeeded: [.badge], failed: [], faceEvidence: nil, note: nil)
        }
    }

    // MARK: Faces

    func process(_ frame: Frame) {
        if let change = health.check(frame.image) {
            cameraFault = change
            if let fault = change {
                site.record(AuditEvent(at: now, kind: .system, type: "system.camera_fault", door: id, camera: camera?.name,
                                       detail: ["fault": fault.rawValue, "fallback": "face factor unavailable: deny"], siteTimeZone: site.policy.timeZone))
                site.timeline(id, "CAMERA FAULT: \(fault.rawValue) feed; face factor unavailable until it recovers")
            } else {
                site.record(AuditEvent(at: now, kind: .system, type: "system.camera_recovered", door: id, camera: camera?.name, siteTimeZone: site.policy.timeZone))
                site.timeline(id, "camera recovered")
            }
        }
        guard cameraFault == nil, let door else { return }
        let required = site.engine.factors(for: door, at: now)
        let wantsFace = pendingBadge != nil || required == .face || required == .badgeOrFace
        guard wantsFace else { return }
        if let worker {
            worker.submit(frame)
            return
        }
        do { consider(try FaceObservation.make(frame, engine: site.faceEngine, options: face.detection)) } catch {
            site.timeline(id, "face engine error: \(error)")
        }
    }

    /// Turns what the engine saw into evidence per tracked face, and decisions.
    func consider(_ observation: FaceObservation) {
        let tracks = tracker.update(observation.faces.map(\.face), at: observation.at)
        for ((face, embedding), t) in zip(observation.faces, tracks) {
            var ev = evidence[t.track] ?? TrackEvidence()
            if let ref = ev.reference, DistanceMetric.euclidean.distance(ref, embedding.values) > Self.differentPerson {
                ev = TrackEvidence()
            }
            if ev.reference == nil { ev.reference = embedding.values }
            if ev.decided, let d = ev.deniedAt, observation.at.timeIntervalSince(d) >= Self.redecideAfter {
                ev = TrackEvidence(countedFailure: ev.countedFailure, reference: ev.reference)
            }
            if ev.decided { evidence[t.track] = ev; continue }
            if let pending = pendingBadge {
                let templates = site.gallery.templates(of: pending.person.id!)
                let v = site.verifier.verify(embedding.values, against: templates)
                ev.verified.append((v.match, v.distance))
                ev.lastVerification = v
                let matches = ev.verified.filter(\.ok).count
                if matches >= self.face.framesRequired {
                    ev.decided = true; pendingBadge = nil
                    decide(person: pending.person, badge: .valid, credential: pending.credential, succeeded: [.badge, .face], failed: [],
                           faceEvidence: FaceEvidence(distance: v.distance, threshold: v.threshold, margin: v.margin, quality: face.landmarks.interEyeDistance,
                                                      frames: ev.verified.count, modelID: embedding.modelID), note: nil)
                } else if ev.verified.count >= self.face.maximumFrames {
                    ev.decided = true; pendingBadge = nil
                    decide(person: pending.person, badge: .valid, credential: pending.credential, succeeded: [.badge], failed: [.face],
                           faceEvidence: FaceEvidence(distance: v.distance, threshold: v.threshold, margin: v.margin, quality: face.landmarks.interEyeDistance,
                                                      frames: ev.verified.count, modelID: embedding.modelID),
                           note: "the face did not match the badge holder in \(matches) of \(ev.verified.count) frames")
                }
            } else {
                let result = site.identify(embedding.values)
                var who: Int64? = nil
                if case .identified(let pid) = result.outcome { who = pid }
                ev.identified.append(who)
                ev.lastIdentification = result
                let counts = Dictionary(grouping: ev.identified.compactMap { $0 }, by: { $0 }).mapValues(\.count)
                let evidence = FaceEvidence(distance: result.candidates.first?.distance, threshold: result.threshold, margin: result.margin,
                                            quality: face.landmarks.interEyeDistance, frames: ev.identified.count, modelID: embedding.modelID)
                if let (pid, n) = counts.max(by: { $0.value < $1.value }), n >= self.face.framesRequired {
                    ev.decided = true
                    let person = try? site.db.people.get(pid)
                    let allowed = decide(person: person ?? nil, badge: .none, credential: nil, succeeded: [.face], failed: [], faceEvidence: evidence,
                                         note: nil, countsTowardLockout: !ev.countedFailure)
                    if !allowed { ev.deniedAt = observation.at; ev.countedFailure = true }
                } else if ev.identified.count >= self.face.maximumFrames {
                    ev.decided = true
                    var reason = "not recognized"
                    if case .notRecognized(let r) = result.outcome {
                        switch r {
                        case .tooFar: reason = "no enrolled face is close enough"
                        case .ambiguous: reason = "two enrolled people are too alike to tell apart"
                        case .inactive: reason = "looks like someone who is suspended or outside their dates"
                        case .emptyGallery: reason = "nobody is enrolled"
                        }
                    }
                    decide(person: nil, badge: .none, credential: nil, succeeded: [], failed: [.face], faceEvidence: evidence, note: reason,
                           countsTowardLockout: !ev.countedFailure)
                    ev.deniedAt = observation.at
                    ev.countedFailure = true
                }
            }
            evidence[t.track] = ev
        }
        let live = Set(tracker.tracks.map(\.id))
        evidence = evidence.filter { live.contains($0.key) }
    }

    // MARK: Decisions

    /// Decides, acts and records; returns whether access was granted.
    @discardableResult
    func decide(person: Person?, badge: AccessRequest.BadgeFact, credential: String?, succeeded: Set<Factor>, failed: Set<Factor>,
                faceEvidence: FaceEvidence?, note: String?, countsTowardLockout: Bool = true) -> Bool {
        guard let door else { return false }
        var reasons: [String]
        var decision: Decision? = nil
        if let until = lockedOutUntil, now < until {
            reasons = ["lockout"]
        } else {
            lockedOutUntil = nil
            let groups = person.flatMap { try? site.db.access.groups(of: $0.id!) } ?? []
            let facts = person.map { PersonFacts(id: $0.id!, name: $0.displayName, groups: groups, active: $0.status == .active,
                                                 validFrom: $0.validFrom, validUntil: $0.validUntil) }
            let d = site.engine.decide(AccessRequest(door: id, time: now, person: facts, badge: badge, succeeded: succeeded, failed: failed), state: site.state)
            site.state.apply(d.changes)
            decision = d
            reasons = d.reasons.map(\.rawValue)
        }
        let allow = decision?.allow ?? false
        var reports: [DoorReport] = []
        if allow, case .release(let seconds) = decision!.action { reports = driver.grant(strikeTime: seconds) }
        let pending = reasons.contains("two_person_pending") || reasons.contains("escort_required")
        if !pending { driver.signal(granted: allow) }
        if !allow && !pending && countsTowardLockout { noteFailure() }
        var factors: [FactorResult] = []
        if badge != .none { factors.append(FactorResult(factor: "badge", ok: badge == .valid, detail: credential)) }
        if let faceEvidence { factors.append(FactorResult(factor: "face", ok: succeeded.contains(.face), detail: "\(faceEvidence.frames) frames")) }
        site.record(AuditEvent(at: now, kind: .decision, type: allow ? "access.granted" : "access.denied", door: id, zone: door.into,
                               reader: id, camera: camera?.name, badge: credential, personID: person?.id, personName: person?.displayName,
                               result: allow ? "granted" : "denied", factors: factors, face: faceEvidence, rule: decision?.rule ?? "lockout",
                               reasons: reasons, doorAction: decision?.action.summary ?? "stayed locked",
                               detail: note.map { ["note": $0] }, siteTimeZone: site.policy.timeZone))
        let who = person.map { "#\($0.id!) \($0.displayName)" } ?? "unknown person"
        let how = [credential.map { "badge \($0)" }, faceEvidence.map { e in
            e.distance.map { String(format: "face %.3f/%.3f over %d frames", $0, e.threshold, e.frames) } ?? "face over \(e.frames) frames" }]
            .compactMap { $0 }.joined(separator: " + ")
        let verdict = allow ? "GRANTED" : (pending ? "WAITING" : "DENIED")
        site.timeline(id, "\(verdict) \(who)\(how.isEmpty ? "" : " [\(how)]")" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: ", "))
                      + (note.map { " (\($0))" } ?? "") + (decision.map { " (rule \($0.rule))" } ?? ""))
        for r in reports { handle(r) }
        return allow
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
