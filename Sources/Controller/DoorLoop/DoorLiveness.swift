import Audit
import Foundation
import Policy
import PresentationAttack

/// Liveness at one door: whether the policy requires it now, whether it may ever, whether
/// the detector is loaded, and what a track's scores say. Pure; refreshed once a door step
/// (a schedule or a reload may change it), not for every face and frame.
struct DoorLiveness {
    let availability: LivenessAvailability
    let rule: LivenessRule
    private(set) var required = false
    private(set) var mayBeRequired = false

    init(availability: LivenessAvailability, rule: LivenessRule) { self.availability = availability; self.rule = rule }

    mutating func refresh(door: Door?, engine: PolicyEngine, at now: Date) {
        guard let door else { required = false; mayBeRequired = false; return }
        required = engine.liveness(for: door, at: now) == .required
        mayBeRequired = engine.mayRequireLiveness(door)
    }

    /// Liveness is required here now and no PAD model is loaded: the face factor is out of
    /// service (the door's camera_fallback applies), and faces are not processed.
    var outOfService: Bool { !availability.loaded && required }

    /// What presentation-attack detection says of a track, for the policy.
    func fact(_ ev: TrackEvidence) -> LivenessFact {
        guard required else { return .notChecked }
        guard availability.loaded else { return .unavailable }
        switch ev.liveness.verdict(rule) {
        case .live: return .live
        case .attack: return .attack
        case .unsure: return .unsure
        }
    }

    /// A track whose match is settled but whose liveness is still short of frames waits for
    /// more, up to `maximumFrames`.
    func awaiting(_ ev: TrackEvidence, frames: Int, maximumFrames: Int) -> Bool {
        fact(ev) == .unsure && frames < maximumFrames
    }

    func record(_ ev: TrackEvidence) -> LivenessEvidenceRecord? {
        guard required || !ev.liveness.scores.isEmpty else { return nil }
        return LivenessEvidenceRecord(verdict: fact(ev).rawValue, required: required,
                                      scores: ev.liveness.scores.map { ($0 * 1000).rounded() / 1000 },
                                      framesRequired: rule.framesRequired, threshold: rule.threshold,
                                      problem: ev.livenessProblem ?? (outOfService ? availability.problem : nil))
    }

    /// Words a guard can act on when liveness decided.
    func note(_ ev: TrackEvidence) -> String? {
        let mean = ev.liveness.mean.map { String(format: "%.3f", $0) } ?? "-"
        switch fact(ev) {
        case .attack:
            return "the face looked like a photo or a screen held to the camera (mean bona fide score \(mean) over \(ev.liveness.frames) frames, below \(String(format: "%.3f", rule.threshold))): check who is at the door"
        case .unsure:
            return "liveness could not be confirmed: \(ev.liveness.frames) of \(rule.framesRequired) frames scored\(ev.livenessProblem.map { " (\($0))" } ?? ""); ask the person to face the camera and hold still"
        default: return nil
        }
    }
}
