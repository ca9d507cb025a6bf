import Capture
import FaceKit
import Foundation
import PresentationAttack

/// The face port on the main loop: each frame is recognised before `submit` returns
/// (deterministic simulated sites and tests).
public final class InlineFaces: DoorFaces {
    public let pipeline: FacePipeline
    let engine: FaceEngine
    let liveness: LivenessDetector?
    let second: (any FaceRecognizer)?
    /// After each frame: a simulated slow board advances its manual clock by what a frame
    /// costs there.
    let afterFrame: (() -> Void)?

    public init(pipeline: FacePipeline, engine: FaceEngine, liveness: LivenessDetector?, second: (any FaceRecognizer)?, afterFrame: (() -> Void)? = nil) {
        self.pipeline = pipeline; self.engine = engine; self.liveness = liveness; self.second = second; self.afterFrame = afterFrame
    }

    public func submit(_ frame: Frame) throws -> FaceObservation? {
        let observation = try pipeline.process(frame, engine: engine, liveness: liveness, second: second)
        afterFrame?()
        return observation
    }
    public func take() -> [FaceObservation] { [] }
    public func hasFrame(capturedBefore time: Date) -> Bool { false }
    public func wantEvidence(track: Int) { pipeline.wantEvidence(track: track) }
    public func settle(track: Int, until: Date?) { pipeline.settle(track: track, until: until) }
    public func setScoresLiveness(_ on: Bool) { pipeline.setScoresLiveness(on) }
    public func reset() { pipeline.reset() }
    public func stop() {}
}

/// The face port on a worker of its own (live sites): frames go to its threads, results come
/// back at the next step.
public final class ThreadedFaces: DoorFaces {
    public let worker: InferenceWorker
    public init(worker: InferenceWorker) { self.worker = worker }

    public func submit(_ frame: Frame) throws -> FaceObservation? { worker.submit(frame); return nil }
    public func take() -> [FaceObservation] { worker.take() }
    public func hasFrame(capturedBefore time: Date) -> Bool { worker.hasFrame(capturedBefore: time) }
    public func wantEvidence(track: Int) { worker.pipeline.wantEvidence(track: track) }
    public func settle(track: Int, until: Date?) { worker.pipeline.settle(track: track, until: until) }
    public func setScoresLiveness(_ on: Bool) { worker.pipeline.setScoresLiveness(on) }
    public func reset() { worker.pipeline.reset() }
    public func stop() { worker.stop() }
}
