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
    /// The second model's embedding of the same face, taken with each fresh `embedding`
    /// when a second model is installed (nil where its points could not be found).
    public var secondEmbedding: Embedding? = nil
    /// Presentation-attack scores, taken with each fresh embedding when a detector is loaded.
    public let liveness: LivenessScore?
    /// Why the face could not be scored, if it could not.
    public let livenessError: String?

    public init(face: Face, track: Int, quality: Double, embedding: Embedding?, secondEmbedding: Embedding? = nil,
                liveness: LivenessScore? = nil, livenessError: String? = nil) {
        self.face = face; self.track = track; self.quality = quality; self.embedding = embedding; self.secondEmbedding = secondEmbedding
        self.liveness = liveness; self.livenessError = livenessError
    }
}

/// What the face pipeline made of one frame.
public struct FaceObservation: Sendable {
    public let at: Date
    public let faces: [TrackedFace]
    /// Every track still alive, including faces missing from this frame.
    public let liveTracks: Set<Int>
    /// Where this frame's time went, so a benchmark can say which stage a change moved.
    public var stages = StageTimes()

    public init(at: Date, faces: [TrackedFace], liveTracks: Set<Int>, stages: StageTimes = StageTimes()) {
        self.at = at; self.faces = faces; self.liveTracks = liveTracks; self.stages = stages
    }
}

/// Seconds per pipeline stage for one frame. Detection includes the landmarks dlib fits
/// to each box; embedding and liveness are zero for frames that did not need them.
public struct StageTimes: Sendable, Equatable, Codable {
    public var detect = 0.0
    public var embed = 0.0
    /// The second recognition model (its five points and its network), when installed.
    public var secondEmbed = 0.0
    public var liveness = 0.0
    public init() {}
}

/// Where the detector looks in each frame. Detection is most of a frame's cost, and while
/// someone is being tracked their face is where it was a frame ago, give or take a step:
/// the region around the tracked faces is scanned, and the whole frame only every
/// `wholeFrameEvery` frames, when nobody is tracked, or when the region misses a face it
/// held, so a newcomer anywhere is found within `wholeFrameEvery` frames.
public struct ScanPlan: Sendable, Equatable {
    /// 1: the whole frame every time.
    public var wholeFrameEvery: Int
    /// The region: the tracked faces' boxes together, grown on every side by this fraction
    /// of the larger box side (a face that steps closer grows; one that walks, moves).
    public var margin: Double
    /// A tracked face is looked for at a scale that still finds it at this share of its
    /// last size (it may step back between frames).
    public var shrinkAllowance: Double
    /// A region this large a share of the frame is not worth cropping at the frame's own
    /// scale: the whole frame then.
    public var largestShare: Double

    public init(wholeFrameEvery: Int = 4, margin: Double = 0.35, shrinkAllowance: Double = 0.7, largestShare: Double = 0.6) {
        self.wholeFrameEvery = max(1, wholeFrameEvery); self.margin = max(0, margin)
        self.shrinkAllowance = min(1, max(0.1, shrinkAllowance)); self.largestShare = largestShare
    }

    public static let door = ScanPlan()
    public static let wholeFrame = ScanPlan(wholeFrameEvery: 1)

    /// Where and at what scale to look for `boxes` in a frame the detector would shrink by
    /// `frameFactor`: the region around them and the whole factor to shrink it by (the
    /// smallest of them at `shrinkAllowance` of its size must still fill HOG's window), or
    /// nil for the whole frame.
    public func region(around boxes: [FaceBox], width: Int, height: Int, frameFactor: Int = 1) -> (box: FaceBox, shrink: Int)? {
        guard wholeFrameEvery > 1, let first = boxes.first else { return nil }
        var u = first
        for b in boxes.dropFirst() {
            u = FaceBox(left: min(u.left, b.left), top: min(u.top, b.top), right: max(u.right, b.right), bottom: max(u.bottom, b.bottom))
        }
        let grow = Int((Double(boxes.map { max($0.width, $0.height) }.max() ?? 0) * margin).rounded(.up))
        let r = FaceBox(left: max(0, u.left - grow), top: max(0, u.top - grow), right: min(width - 1, u.right + grow), bottom: min(height - 1, u.bottom + grow))
        guard r.width > 0, r.height > 0 else { return nil }
        let smallest = Double(boxes.map { min($0.width, $0.height) }.min() ?? 0)
        let shrink = max(frameFactor, Int(smallest * shrinkAllowance / Double(FaceEngine.hogWindow)))
        // At the frame's own scale a region nearly the frame's size saves nothing.
        if shrink == frameFactor && Double(r.area) >= largestShare * Double(width * height) { return nil }
        return (r, shrink)
    }
}

/// One frame's faces as the detector found them, before tracking: what the detection
/// stage hands to the tracking and embedding stage when the two run on separate threads.
public struct DetectedFrame: Sendable {
    public let frame: Frame
    public let faces: [Face]
    public let detectSeconds: Double
}

/// How a pipeline's frames were scanned, for the benchmark and the status.
public struct ScanCounts: Sendable, Equatable, Codable {
    public var wholeFrame = 0
    public var region = 0
    /// Regions that missed a face they held and were followed by a whole-frame scan.
    public var regionMissed = 0
    public init() {}
}

/// Per camera: detection (on a shrunk copy when the frame is large), tracking across
/// frames, and the choice of which faces to embed. The network is the expensive part, so
/// a track is embedded while its evidence is being collected and, after that, only when
/// its face is better (larger, clearer, more frontal) than the last one embedded. A track
/// whose decision is made is embedded only every `recheckInterval`, enough to notice
/// someone else stepping into the same place, until the controller says to look again.
///
/// Two stages: `detect` (where to look, detection, landmarks) and `track` (tracking, the
/// choice to embed, embedding, liveness). `process` runs both; the inference worker may run
/// them on two threads, one frame apart, each stage on one thread and frames in order.
/// Each stage keeps its own state. `settle`, `wantEvidence` and `reset` may be called from
/// the controller's thread.
public final class FacePipeline: @unchecked Sendable {
    public let options: DetectionOptions
    public let framesRequired: Int
    public let scan: ScanPlan
    private var tracker = FaceTracker()
    // The detection stage's state: the faces of the last frame, frames since the whole
    // frame was scanned, and how frames were scanned.
    private var lastBoxes: [FaceBox] = []
    private var sinceWholeFrame = 0
    private var scanCounts = ScanCounts()
    private var scanResetRequested = false
    private var lastEmbedded: [Int: (count: Int, quality: Double, at: Date)] = [:]
    private let lock = NSLock()
    private var settledUntil: [Int: Date] = [:]
    private var restarts = Set<Int>()
    private var wanted = Set<Int>()
    private var resetRequested = false
    private var scoresLiveness = true
    static let recheckInterval: TimeInterval = 0.5
    public private(set) var embeddingsSkipped = 0

    public init(options: DetectionOptions, framesRequired: Int, scan: ScanPlan = .door) {
        self.options = options
        self.framesRequired = max(1, framesRequired)
        self.scan = scan
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
        lock.lock(); resetRequested = true; scanResetRequested = true; lock.unlock()
    }

    /// How frames were scanned so far (whole, region, region missed).
    public var scans: ScanCounts {
        lock.lock(); defer { lock.unlock() }
        return scanCounts
    }

    /// Both stages, one after the other. `liveness`: score each freshly embedded face for
    /// presentation attacks (one pass per fresh embedding, never per frame: a repeated vote
    /// repeats its score too).
    public func process(_ frame: Frame, engine: FaceEngine, liveness: LivenessDetector? = nil, second: (any FaceRecognizer)? = nil) throws -> FaceObservation {
        try track(try detect(frame, engine: engine), engine: engine, liveness: liveness, second: second)
    }

    /// The detection stage: the region around last frame's faces or the whole frame, and
    /// each face's landmarks. Only one thread at a time, frames in order.
    public func detect(_ frame: Frame, engine: FaceEngine) throws -> DetectedFrame {
        lock.lock()
        let resetting = scanResetRequested
        scanResetRequested = false
        lock.unlock()
        if resetting { lastBoxes = []; sinceWholeFrame = 0 }
        let start = DispatchTime.now().uptimeNanoseconds
        let faces = try detectFaces(frame.image, engine: engine)
        return DetectedFrame(frame: frame, faces: faces, detectSeconds: Self.seconds(since: start))
    }

    /// The tracking stage: tracks, the choice of which faces to embed, their embeddings and
    /// liveness. Only one thread at a time, frames in the order `detect` saw them.
    /// `second`: the second recognition model, which embeds the same face whenever dlib's
    /// does (never on frames dlib skips).
    public func track(_ detected: DetectedFrame, engine: FaceEngine, liveness: LivenessDetector? = nil, second: (any FaceRecognizer)? = nil) throws -> FaceObservation {
        let frame = detected.frame, faces = detected.faces
        lock.lock()
        let resetting = resetRequested
        resetRequested = false
        let liveness = scoresLiveness ? liveness : nil
        lock.unlock()
        if resetting { tracker.reset(); lastEmbedded = [:] }
        var stages = StageTimes()
        stages.detect = detected.detectSeconds
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
            var secondEmbedding: Embedding? = nil
            var score: LivenessScore? = nil, scoreError: String? = nil
            if shouldEmbed(track: track, quality: quality, at: frame.at, settled: settled, wanted: wantedNow) {
                let embedStart = DispatchTime.now().uptimeNanoseconds
                embedding = try? engine.embed(frame.image, face: face)
                stages.embed += Self.seconds(since: embedStart)
                if embedding != nil, let second {
                    let secondStart = DispatchTime.now().uptimeNanoseconds
                    secondEmbedding = try? second.embed(frame.image, face: face)
                    stages.secondEmbed += Self.seconds(since: secondStart)
                }
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
            var tracked = TrackedFace(face: face, track: track, quality: quality, embedding: embedding, liveness: score, livenessError: scoreError)
            tracked.secondEmbedding = secondEmbedding
            out.append(tracked)
        }
        return FaceObservation(at: frame.at, faces: out, liveTracks: live, stages: stages)
    }

    /// The region around last frame's faces when the plan allows it and it holds them all;
    /// the whole frame otherwise.
    private func detectFaces(_ image: RGBImage, engine: FaceEngine) throws(FaceEngineError) -> [Face] {
        if sinceWholeFrame + 1 < scan.wholeFrameEvery,
           let region = scan.region(around: lastBoxes, width: image.width, height: image.height, frameFactor: options.detectionFactor(width: image.width)) {
            let found = try engine.detect(image, options: options, within: region.box, shrink: region.shrink)
            if found.count >= lastBoxes.count {
                sinceWholeFrame += 1
                count { $0.region += 1 }
                lastBoxes = found.map(\.box)
                return found
            }
            count { $0.regionMissed += 1 }   // someone left the region, or turned away: look everywhere now
        }
        let found = try engine.detect(image, options: options)
        sinceWholeFrame = 0
        count { $0.wholeFrame += 1 }
        lastBoxes = found.map(\.box)
        return found
    }

    private func count(_ change: (inout ScanCounts) -> Void) {
        lock.lock(); change(&scanCounts); lock.unlock()
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    private func shouldEmbed(track: Int, quality: Double, at: Date, settled: [Int: Date], wanted: Set<Int>) -> Bool {
        guard let last = lastEmbedded[track] else { return true }
        if settled[track] != nil { return at.timeIntervalSince(last.at) >= Self.recheckInterval }
        return last.count < framesRequired || quality > last.quality || wanted.contains(track)
    }
}
