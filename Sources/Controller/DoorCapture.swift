import Capture
import FaceKit
import Foundation
import PresentationAttack

/// A door's camera read inside the controller that runs it: the newest frame its door
/// loop kept (`LatestFrames`). The door goes on deciding; the capture sees what it sees.
public final class LatestFrameSource: FrameSource {
    public let name: String
    let frames: LatestFrames
    let door: String
    private var lastSequence: Int?

    public init(frames: LatestFrames, door: String) { self.frames = frames; self.door = door; name = "door \(door)" }

    public var deliversContinuously: Bool { true }

    public func nextFrame() throws -> Frame? {
        // No frame yet (a faulted camera): the capture waits out its seconds and says so.
        guard let f = frames.get(door), f.sequence != lastSequence else { return nil }
        lastSequence = f.sequence
        return f
    }
}

/// An enrollment capture at one of this controller's doors, on an engine of its own (the
/// doors' engines stay with the doors) and, when the models are there, a PAD detector of
/// its own. Blocking: run it on a thread of its own.
public struct DoorCapture: Sendable {
    public let models: ModelSet
    public let frames: LatestFrames
    public let doors: Set<String>
    public let padLocator: PADModelLocator
    /// Makes the second recognition model's recognizer, when the site has one: the chosen
    /// faces then go back as templates of both models.
    public let makeSecond: (@Sendable () throws -> any FaceRecognizer)?

    public init(models: ModelSet, frames: LatestFrames, doors: Set<String>, padLocator: PADModelLocator,
                makeSecond: (@Sendable () throws -> any FaceRecognizer)? = nil) {
        self.models = models; self.frames = frames; self.doors = doors; self.padLocator = padLocator; self.makeSecond = makeSecond
    }

    public struct Result {
        public var outcome: CameraCapture.Outcome
        /// Why liveness was not checked, when it was not.
        public var livenessProblem: String?
    }

    public func run(door: String, settings: CameraCapture.Settings, progress: (CameraCapture.Progress) -> Void) -> Result {
        guard doors.contains(door) else { return Result(outcome: .refused("no door '\(door)' on this controller"), livenessProblem: nil) }
        let engine: FaceEngine
        do { engine = try FaceEngine(models: models) } catch { return Result(outcome: .refused("the face models cannot be loaded: \(error.description)"), livenessProblem: nil) }
        var pad: LivenessDetector? = nil
        var problem: String? = nil
        do { pad = try LivenessDetector(locator: padLocator) } catch { problem = error.description.components(separatedBy: "\n").first }
        let capture = CameraCapture(engine: engine, settings: settings, liveness: pad)
        // A second model that cannot be made leaves the capture on dlib: those people gain
        // the second template at their first confident door pass.
        capture.second = try? makeSecond?()
        return Result(outcome: capture.run(LatestFrameSource(frames: frames, door: door), progress: progress), livenessProblem: problem)
    }
}
