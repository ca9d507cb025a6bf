import Capture
import FaceKit
import Foundation
import Matching
import PresentationAttack
import WardenCore

/// Enrollment at a camera: a few seconds of watching one face while the person turns a
/// little. Each frame goes through the photo gates (one face, size, sharpness, pose); the
/// faces that pass are candidates, and `TemplateSelection` chooses a small set that covers
/// the poses and differ from one another. Nothing of a frame is kept but the chosen faces'
/// embeddings, poses and quality. With a presentation-attack detector, every candidate is
/// scored and the capture is refused unless the face was shown to be live.
public final class CameraCapture {
    public struct Settings: Sendable {
        public var seconds: TimeInterval = 6
        public var templates = 5
        public var detection = DetectionOptions(upsample: 1)
        public var quality = EnrollmentQualityPolicy.default
        public var liveness = LivenessRule.standard
        /// Frames showing two or more faces before the capture is refused: one stray
        /// detection is tolerated, a second person standing there is not.
        public var crowdedFrames = 3
        /// Each chosen template is the average of this many jittered copies of its face
        /// (dlib's num_jitters; 1: none). Measured with `warden eval --templates 1,3,5
        /// --jitter 10`: FNIR at FPIR 1e-2 2.35% -> 1.76% with five templates (docs/accuracy.md).
        public var jitter = 10
        public init() {}
    }

    public struct Progress: Sendable {
        public var elapsed: TimeInterval
        public var frames: Int
        /// Faces that passed the gates so far.
        public var usable: Int
        public var covered: [TemplateSelection.PoseBin]
        /// What the person should do next, in words.
        public var hint: String
        public init(elapsed: TimeInterval, frames: Int, usable: Int, covered: [TemplateSelection.PoseBin], hint: String) {
            self.elapsed = elapsed; self.frames = frames; self.usable = usable; self.covered = covered; self.hint = hint
        }
    }

    public struct ChosenFace: Sendable {
        public var embedding: Embedding
        /// The second model's embedding of the same face, when one is installed and could
        /// embed it.
        public var secondEmbedding: Embedding? = nil
        public var quality: FaceQuality
        public var pose: FacePose
        public var bin: TemplateSelection.PoseBin
        public var frame: Int
    }

    public struct Captured: Sendable {
        public var chosen: [ChosenFace]
        public var frames: Int
        public var usable: Int
        public var seconds: TimeInterval
        /// The PAD verdict and the mean bona fide score, when a detector ran.
        public var liveness: (verdict: LivenessVerdict, mean: Double, frames: Int)?
    }

    public enum Outcome: Sendable {
        case captured(Captured)
        /// Nothing is enrolled; the reason says what to change.
        case refused(String)
        /// Nothing is enrolled: the face was shown to be an attack (a print, a screen; a log
        /// event wherever it happens) or liveness could not be confirmed (`unsure`).
        case notLive(LivenessVerdict, String)
    }

    public let engine: FaceEngine
    public let settings: Settings
    public let liveness: LivenessDetector?
    public let clock: any WardenClock
    /// The second recognition model, when installed: each usable face is embedded by it too,
    /// so the chosen faces become templates of both models.
    public var second: (any FaceRecognizer)?
    /// Waits while no frame is due: a short sleep on the system clock; a manual clock's
    /// owner advances it instead.
    let pause: () -> Void

    public init(engine: FaceEngine, settings: Settings = Settings(), liveness: LivenessDetector? = nil, clock: any WardenClock = SystemClock(),
                pause: @escaping () -> Void = { usleep(5_000) }) {
        self.engine = engine; self.settings = settings; self.liveness = liveness; self.clock = clock; self.pause = pause
    }

    /// Faces of one track farther apart than this are two people (as at a door).
    static let differentPerson = 0.55

    /// A face that passed the gates; its aligned chip is held (in memory only) until the
    /// capture ends, for the jittered template.
    private struct Seen { var embedding: Embedding; var quality: FaceQuality; var pose: FacePose; var frame: Int; var chip: RGBImage; var second: Embedding? = nil }

    public func run(_ source: any FrameSource, progress: (Progress) -> Void = { _ in }) -> Outcome {
        let start = clock.now
        var frames = 0, crowded = 0, faceless = 0
        var seen: [Seen] = []
        var problems: [String: Int] = [:]
        var evidence = LivenessEvidence()
        var livenessErrors = 0
        var hint = "look at the camera"
        func candidates() -> [TemplateSelection.Candidate] {
            seen.enumerated().map { TemplateSelection.Candidate(vector: $0.element.embedding.values, pose: $0.element.pose,
                                                                 quality: $0.element.quality.selectionScore, tag: $0.offset) }
        }
        while clock.now.timeIntervalSince(start) < settings.seconds {
            let frame: Frame?
            do { frame = try source.nextFrame() } catch { return .refused("the camera failed: \(error)") }
            guard let frame else {
                if source.ended { break }
                pause()
                continue
            }
            frames += 1
            let faces: [Face]
            do { faces = try engine.detect(frame.image, options: settings.detection) } catch { return .refused("face detection failed: \(error.description)") }
            if faces.count >= 2 {
                crowded += 1
                hint = "only the person enrolling may be in view (\(faces.count) faces)"
                if crowded >= settings.crowdedFrames {
                    return .refused("\(faces.count) people are in view: only the person being enrolled may stand in front of the camera")
                }
            } else if let face = faces.first {
                do {
                    let chip = try engine.alignedChip(frame.image, face: face)
                    let q = FaceQuality(face: face, chip: chip)
                    let wrong = settings.quality.problems(with: q)
                    if let first = wrong.first {
                        for w in wrong { problems[w.components(separatedBy: ":").first ?? w, default: 0] += 1 }
                        hint = Self.hint(for: first)
                    } else {
                        let e = try engine.embed(chips: [chip])[0]
                        if let firstSeen = seen.first, DistanceMetric.euclidean.distance(firstSeen.embedding.values, e.values) > Self.differentPerson {
                            return .refused("someone else came into view during the capture: only the person being enrolled may be in front of the camera")
                        }
                        seen.append(Seen(embedding: e, quality: q, pose: FacePose(face.landmarks), frame: frame.sequence, chip: chip,
                                         second: try? second?.embed(frame.image, face: face)))
                        if let pad = liveness {
                            do { evidence.add(try pad.score(frame.image, face: face).bonaFide) } catch { livenessErrors += 1 }
                        }
                        hint = ""   // said below, from the poses seen
                    }
                } catch {
                    problems["the face could not be measured", default: 0] += 1
                }
            } else {
                faceless += 1
                hint = "no face in view: stand in front of the camera, facing it"
            }
            let cover = TemplateSelection.coverage(candidates())
            if hint.isEmpty { hint = cover.missing?.hint ?? "hold still" }
            progress(Progress(elapsed: clock.now.timeIntervalSince(start), frames: frames, usable: seen.count, covered: cover.covered.sorted(), hint: hint))
            // Every pose seen, and enough faces to choose from: done early.
            if cover.missing == nil && seen.count >= settings.templates * 2 { break }
        }
        let seconds = clock.now.timeIntervalSince(start)
        guard !seen.isEmpty else {
            if frames == 0 { return .refused("the camera delivered no frame in \(Int(settings.seconds)) s") }
            if faceless == frames { return .refused("no face was seen in \(frames) frames: stand in front of the camera, facing it, in good light") }
            let worst = problems.max { $0.value < $1.value }.map { "\($0.key) in \($0.value) of \(frames) frames" } ?? "no frame passed the gates"
            return .refused("no usable face in \(frames) frames: \(worst) (\(Self.hint(for: problems.max { $0.value < $1.value }?.key ?? "")))")
        }
        var verdict: (LivenessVerdict, Double, Int)? = nil
        if liveness != nil {
            let v = evidence.verdict(settings.liveness)
            verdict = (v, evidence.mean ?? 0, evidence.frames)
            switch v {
            case .attack:
                return .notLive(.attack, String(format: "presentation attack: the face looked like a print or a screen (bona fide %.3f over %d frames, threshold %.3f)",
                                                evidence.mean ?? 0, evidence.frames, settings.liveness.threshold))
            case .unsure:
                return .notLive(.unsure, "liveness could not be confirmed: \(evidence.frames) frames scored, \(settings.liveness.framesRequired) needed"
                                + (livenessErrors > 0 ? " (\(livenessErrors) could not be scored)" : ""))
            case .live: break
            }
        }
        var chosen: [ChosenFace] = []
        for c in TemplateSelection.choose(candidates(), count: settings.templates) {
            let s = seen[c.candidate.tag]
            var e = s.embedding
            if settings.jitter > 1 {
                do { e = try engine.embedJittered(chip: s.chip, count: settings.jitter, seed: UInt64(s.frame) &+ 1) } catch {
                    return .refused("the face could not be embedded: \(error.description)")
                }
            }
            chosen.append(ChosenFace(embedding: e, secondEmbedding: s.second, quality: s.quality, pose: s.pose, bin: c.bin, frame: s.frame))
        }
        return .captured(Captured(chosen: chosen, frames: frames, usable: seen.count, seconds: seconds,
                                  liveness: verdict.map { (verdict: $0.0, mean: $0.1, frames: $0.2) }))
    }

    /// A gate's refusal as an instruction.
    static func hint(for problem: String) -> String {
        if problem.hasPrefix("face too small") { return "come closer to the camera" }
        if problem.hasPrefix("photo too blurred") { return "hold still (or more light)" }
        if problem.hasPrefix("head turned") { return "turn back toward the camera" }
        if problem.hasPrefix("head tilted") { return "hold your head level" }
        return "face the camera"
    }
}
