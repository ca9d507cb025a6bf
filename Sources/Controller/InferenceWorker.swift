import Capture
import FaceKit
import Foundation
import PresentationAttack

/// Runs face inference for one camera on its own thread with its own engine (dlib's
/// networks must not be shared across threads). Blocking C calls stay off the controller
/// loop and off Swift's cooperative pool. Bounded both ways: one frame waits (a newer
/// one replaces it, counted as dropped), and at most `maxResults` observations queue.
final class InferenceWorker: @unchecked Sendable {
    let engine: FaceEngine
    let pipeline: FacePipeline
    /// This thread's own PAD detector (OpenCV nets keep per-pass state too).
    let liveness: LivenessDetector?
    private let condition = NSCondition()
    private var pending: Frame?
    /// The capture time of the frame being processed now.
    private var inFlight: Date?
    private var results: [FaceObservation] = []
    private var stopping = false
    private(set) var droppedFrames = 0
    private(set) var errors = 0
    static let maxResults = 8

    init(engine: FaceEngine, pipeline: FacePipeline, liveness: LivenessDetector? = nil) {
        self.engine = engine
        self.pipeline = pipeline
        self.liveness = liveness
        let t = Thread { [weak self] in self?.run() }
        t.name = "warden.inference"
        t.start()
    }

    func submit(_ frame: Frame) {
        condition.lock()
        if pending != nil { droppedFrames += 1 }
        pending = frame
        condition.signal()
        condition.unlock()
    }

    /// Whether a frame captured before `time` is waiting, being processed, or processed and
    /// not yet taken: its result may still belong to a window ending at `time`.
    func hasFrame(capturedBefore time: Date) -> Bool {
        condition.lock(); defer { condition.unlock() }
        return (pending.map { $0.at < time } ?? false) || (inFlight.map { $0 < time } ?? false) || results.contains { $0.at < time }
    }

    func take() -> [FaceObservation] {
        condition.lock(); defer { results = []; condition.unlock() }
        return results
    }

    func stop() { condition.lock(); stopping = true; condition.signal(); condition.unlock() }

    private func run() {
        while true {
            condition.lock()
            while pending == nil && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let frame = pending!
            pending = nil
            inFlight = frame.at
            condition.unlock()
            let observation = try? pipeline.process(frame, engine: engine, liveness: liveness)
            condition.lock()
            inFlight = nil
            if let observation {
                results.append(observation)
                if results.count > Self.maxResults { results.removeFirst(); droppedFrames += 1 }
            } else { errors += 1 }
            condition.unlock()
        }
    }
}
