import Capture
import FaceKit
import Foundation
import PresentationAttack

/// Runs face inference for one camera on threads of its own with its own engine (dlib's
/// networks must not be shared across threads). Blocking C calls stay off the controller
/// loop and off Swift's cooperative pool. Bounded both ways: one frame waits (a newer
/// one replaces it, counted as dropped), and at most `maxResults` observations queue.
///
/// With two stages, one thread detects frame n+1 while the other tracks and embeds frame
/// n: the pipeline's two stages use separate parts of the engine (`FaceEngine`), each stage
/// runs on one thread only, and a detected frame waits for the tracking thread rather than
/// being dropped, so observations come back in capture order, as with one thread.
public final class InferenceWorker: @unchecked Sendable {
    public let engine: FaceEngine
    public let pipeline: FacePipeline
    /// This worker's own PAD detector (OpenCV nets keep per-pass state too).
    public let liveness: LivenessDetector?
    /// This worker's own second recognition model, when one is installed.
    public let second: (any FaceRecognizer)?
    /// 1: one thread runs both stages; 2: a detection thread and a tracking thread.
    public let stages: Int
    private let condition = NSCondition()
    private var pending: Frame?
    /// Capture times of the frames being detected, detected and waiting, and being tracked.
    private var detecting: Date?
    private var detected: DetectedFrame?
    private var tracking: Date?
    private var results: [FaceObservation] = []
    private var stopping = false
    public private(set) var droppedFrames = 0
    public private(set) var errors = 0
    static let maxResults = 8

    public init(engine: FaceEngine, pipeline: FacePipeline, liveness: LivenessDetector? = nil, second: (any FaceRecognizer)? = nil, stages: Int = 1) {
        self.engine = engine
        self.pipeline = pipeline
        self.liveness = liveness
        self.second = second
        self.stages = stages >= 2 ? 2 : 1
        if self.stages == 2 {
            let detector = Thread { [weak self] in self?.detectLoop() }
            detector.name = "warden.detect"
            detector.start()
        }
        let t = Thread { [weak self] in self?.trackLoop() }
        t.name = "warden.inference"
        t.start()
    }

    /// How many inference stages the doors' cameras can each have without running more
    /// inference threads than the board has cores: two (detection beside embedding) when
    /// every camera can have two, one otherwise.
    public static func stages(cameras: Int, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        cameras > 0 && cores >= 2 * cameras ? 2 : 1
    }

    public func submit(_ frame: Frame) {
        condition.lock()
        if pending != nil { droppedFrames += 1 }
        pending = frame
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until no frame is waiting to be taken, then submits this one: nothing is
    /// dropped (for the benchmark, which times every frame).
    public func submitWaiting(_ frame: Frame) {
        condition.lock()
        while pending != nil && !stopping { condition.wait() }
        pending = frame
        condition.broadcast()
        condition.unlock()
    }

    /// Whether a frame captured before `time` is waiting, being processed, or processed and
    /// not yet taken: its result may still belong to a window ending at `time`.
    public func hasFrame(capturedBefore time: Date) -> Bool {
        condition.lock(); defer { condition.unlock() }
        let busy = [pending?.at, detecting, detected?.frame.at, tracking].compactMap { $0 }
        return busy.contains { $0 < time } || results.contains { $0.at < time }
    }

    /// Whether every submitted frame has been processed (its observation may still wait in
    /// `take`).
    public var isIdle: Bool {
        condition.lock(); defer { condition.unlock() }
        return idle
    }

    private var idle: Bool { pending == nil && detecting == nil && detected == nil && tracking == nil }

    public func take() -> [FaceObservation] {
        condition.lock(); defer { results = []; condition.unlock() }
        return results
    }

    /// Like `take`, but waits for at least one observation; empty when every submitted frame
    /// is done and none is left (a frame that failed gives none, and counts in `errors`).
    public func takeWaiting() -> [FaceObservation] {
        condition.lock(); defer { results = []; condition.unlock() }
        while results.isEmpty && !stopping && !idle { condition.wait() }
        return results
    }

    public func stop() { condition.lock(); stopping = true; condition.broadcast(); condition.unlock() }

    /// Two stages: takes each waiting frame, detects, and hands it on in order.
    private func detectLoop() {
        while true {
            condition.lock()
            while pending == nil && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let frame = pending!
            pending = nil
            detecting = frame.at
            condition.broadcast()
            condition.unlock()
            let found = try? pipeline.detect(frame, engine: engine)
            condition.lock()
            // The tracking thread takes frames one by one: wait for it rather than drop a
            // detected frame, so tracks see every frame that was detected.
            while found != nil && detected != nil && !stopping { condition.wait() }
            detecting = nil
            if let found { detected = found } else { errors += 1 }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Tracks and embeds; with one stage, takes each waiting frame and detects it first.
    private func trackLoop() {
        while true {
            condition.lock()
            while (stages == 2 ? detected == nil : pending == nil) && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let work: () throws -> FaceObservation
            if stages == 2 {
                let input = detected!
                detected = nil; tracking = input.frame.at
                work = { try self.pipeline.track(input, engine: self.engine, liveness: self.liveness, second: self.second) }
            } else {
                let frame = pending!
                pending = nil; tracking = frame.at
                work = { try self.pipeline.process(frame, engine: self.engine, liveness: self.liveness, second: self.second) }
            }
            condition.broadcast()
            condition.unlock()
            let observation = try? work()
            condition.lock()
            tracking = nil
            if let observation {
                results.append(observation)
                if results.count > Self.maxResults { results.removeFirst(); droppedFrames += 1 }
            } else { errors += 1 }
            condition.broadcast()
            condition.unlock()
        }
    }
}
