import Capture
import FaceKit
import Foundation
import PresentationAttack

/// One face in one processed frame: where, which track, how good, and its embedding when
/// this frame was worth embedding.
public struct TrackedFace: Sendable {
    public let face: Face
    public let track: Int
    /// Inter-eye distance x detector score: larger, clearer, more frontal faces score higher.
    public let quality: Double
    public let embedding: Embedding?
    /// Presentation-attack scores, taken with each fresh embedding when a detector is loaded.
    public let liveness: LivenessScore?
    /// Why the face could not be scored, if it could not.
    public let livenessError: String?
}

/// What the face pipeline made of one frame.
public struct FaceObservation: Sendable {
    public let at: Date
    public let faces: [TrackedFace]
    /// Every track still alive, including faces missing from this frame.
    public let liveTracks: Set<Int>
    /// Where this frame's time went, so a benchmark can say which stage a change moved.
    public var stages = StageTimes()
}

/// Seconds per pipeline stage for one frame. Detection includes the landmarks dlib fits
/// to each box; embedding and liveness are zero for frames that did not need them.
public struct StageTimes: Sendable, Equatable, Codable {
    public var detect = 0.0
    public var embed = 0.0
    public var liveness = 0.0
    public init() {}
}

/// Per camera: detection (on a shrunk copy when the frame is large), tracking across
/// frames, and the choice of which faces to embed. The network is the expensive part, so
/// a track is embedded while its evidence is being collected and, after that, only when
/// its face is better (larger, clearer, more frontal) than the last one embedded. A track
/// whose decision is made is embedded only every `recheckInterval`, enough to notice
/// someone else stepping into the same place, until the controller says to look again.
///
/// Runs on the inference worker's thread (or inline); `settle` may be called from the
/// controller's thread.
public final class FacePipeline: @unchecked Sendable {
    public let options: DetectionOptions
    public let framesRequired: Int
    private var tracker = FaceTracker()
    private var lastEmbedded: [Int: (count: Int, quality: Double, at: Date)] = [:]
    private let lock = NSLock()
    private var settledUntil: [Int: Date] = [:]
    private var restarts = Set<Int>()
    private var wanted = Set<Int>()
    private var resetRequested = false
    private var scoresLiveness = true
    static let recheckInterval: TimeInterval = 0.5
    public private(set) var embeddingsSkipped = 0

    public init(options: DetectionOptions, framesRequired: Int) {
        self.options = options
        self.framesRequired = max(1, framesRequired)
    }

    /// The track's embedded frames disagree so far: embed its next frame whatever its
    /// quality, so the decision rests on fresh evidence rather than a repeated vote.
    public func wantEvidence(track: Int) {
        lock.lock(); wanted.insert(track); lock.unlock()
    }

    /// The controller has decided on this track: only recheck it until `until` (nil: it is
    /// someone new; collect evidence afresh from the next frame).
    public func settle(track: Int, until: Date?) {
        lock.lock(); defer { lock.unlock() }
        if let until { settledUntil[track] = until } else { settledUntil[track] = nil; restarts.insert(track) }
    }

    /// Whether fresh embeddings are also scored for presentation attacks (when a detector
    /// is given to `process`).
    public func setScoresLiveness(_ on: Bool) {
        lock.lock(); scoresLiveness = on; lock.unlock()
    }

    /// Forget every track (the camera was lost and is back: whoever stands there now has
    /// not been watched all along). Taken at the next frame.
    public func reset() {
        lock.lock(); resetRequested = true; lock.unlock()
    }

    /// `liveness`: score each freshly embedded face for presentation attacks (one pass per
    /// fresh embedding, never per frame: a repeated vote repeats its score too).
    public func process(_ frame: Frame, engine: FaceEngine, liveness: LivenessDetector? = nil) throws -> FaceObservation {
        lock.lock()
        let resetting = resetRequested
        resetRequested = false
        let liveness = scoresLiveness ? liveness : nil
        lock.unlock()
        if resetting { tracker.reset(); lastEmbedded = [:] }
        var stages = StageTimes()
        let detectStart = DispatchTime.now().uptimeNanoseconds
        let faces = try engine.detect(frame.image, options: options)
        stages.detect = Self.seconds(since: detectStart)
        let tracks = tracker.update(faces, at: frame.at)
        let live = Set(tracker.tracks.map(\.id))
        lock.lock()
        settledUntil = settledUntil.filter { live.contains($0.key) }
        let released = settledUntil.filter { $0.value <= frame.at }.map(\.key)
        for k in released { settledUntil[k] = nil }
        let settled = settledUntil
        let fresh = restarts.union(released)
        restarts = []
        let wantedNow = wanted
        wanted = []
        lock.unlock()
        lastEmbedded = lastEmbedded.filter { live.contains($0.key) }
        for k in fresh { lastEmbedded[k] = nil }      // looked at afresh
        var out: [TrackedFace] = []
        for (face, track) in zip(faces, tracks) {
            let quality = FaceTracker.quality(of: face)
            var embedding: Embedding? = nil
            var score: LivenessScore? = nil, scoreError: String? = nil
            if shouldEmbed(track: track, quality: quality, at: frame.at, settled: settled, wanted: wantedNow) {
                let embedStart = DispatchTime.now().uptimeNanoseconds
                embedding = try? engine.embed(frame.image, face: face)
                stages.embed += Self.seconds(since: embedStart)
                if embedding != nil {
                    let n = (lastEmbedded[track]?.count ?? 0) + 1
                    lastEmbedded[track] = (n, quality, frame.at)
                    if let liveness {
                        let padStart = DispatchTime.now().uptimeNanoseconds
                        do { score = try liveness.score(frame.image, face: face) } catch { scoreError = error.description }
                        stages.liveness += Self.seconds(since: padStart)
                    }
                }
            } else {
                embeddingsSkipped += 1
            }
            out.append(TrackedFace(face: face, track: track, quality: quality, embedding: embedding, liveness: score, livenessError: scoreError))
        }
        return FaceObservation(at: frame.at, faces: out, liveTracks: live, stages: stages)
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    private func shouldEmbed(track: Int, quality: Double, at: Date, settled: [Int: Date], wanted: Set<Int>) -> Bool {
        guard let last = lastEmbedded[track] else { return true }
        if settled[track] != nil { return at.timeIntervalSince(last.at) >= Self.recheckInterval }
        return last.count < framesRequired || quality > last.quality || wanted.contains(track)
    }
}
