import Controller
import FleetLink
import FleetProtocol
import Foundation
import PresentationAttack

/// The board's side of enrollment at a door through the server: the capture runs here,
/// on this controller's camera and models, and only the chosen templates go back.
public struct FleetCaptureRunner: FleetCaptureRunning {
    public let doorCapture: DoorCapture
    public init(doorCapture: DoorCapture) { self.doorCapture = doorCapture }

    public func capture(_ job: CaptureJob, progress: @escaping @Sendable (CaptureProgressWire) -> Void) async -> CaptureResultWire {
        // A capture blocks for seconds: a thread of its own, not one of the cooperative pool.
        await withCheckedContinuation { (c: CheckedContinuation<CaptureResultWire, Never>) in
            let t = Thread { c.resume(returning: self.run(job, progress: progress)) }
            t.name = "warden.capture"
            t.start()
        }
    }

    public func run(_ job: CaptureJob, progress: @escaping @Sendable (CaptureProgressWire) -> Void) -> CaptureResultWire {
        var settings = CameraCapture.Settings()
        settings.seconds = min(60, max(1, job.seconds))
        settings.templates = min(10, max(1, job.templates))
        let r = doorCapture.run(door: job.door, settings: settings) { p in
            progress(CaptureProgressWire(job: job.id, elapsed: p.elapsed, frames: p.frames, usable: p.usable, covered: p.covered.map(\.rawValue), hint: p.hint))
        }
        switch r.outcome {
        case .refused(let why):
            return CaptureResultWire(job: job.id, captured: false, reason: why, templates: [], frames: 0, usable: 0, seconds: 0,
                                     liveness: r.livenessProblem == nil ? "not_concluded" : "not_checked", livenessScore: nil, livenessNote: r.livenessProblem)
        case .notLive(let verdict, let why):
            return CaptureResultWire(job: job.id, captured: false, reason: why, templates: [], frames: 0, usable: 0, seconds: 0,
                                     liveness: verdict.rawValue, livenessScore: nil, livenessNote: nil)
        case .captured(let c):
            let templates = c.chosen.map { f in
                CapturedTemplateWire(embedding: Data(f.embedding.serialized()), modelID: f.embedding.modelID, pose: f.bin.rawValue, yaw: f.pose.yaw,
                                     noseDrop: f.pose.noseDrop, roll: f.quality.roll, interEyeDistance: f.quality.interEyeDistance, sharpness: f.quality.sharpness,
                                     detectionScore: f.quality.detectionScore, frame: f.frame, secondEmbedding: f.secondEmbedding.map { Data($0.serialized()) })
            }
            return CaptureResultWire(job: job.id, captured: true, reason: nil, templates: templates, frames: c.frames, usable: c.usable, seconds: c.seconds,
                                     liveness: c.liveness?.verdict.rawValue ?? "not_checked", livenessScore: c.liveness?.mean, livenessNote: r.livenessProblem)
        }
    }
}
