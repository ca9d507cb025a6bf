import CommandSupport
import ArgumentParser
import Capture
import Controller
import FaceKit
import FleetProtocol
import Foundation
import Matching
import PresentationAttack
import Storage
import WardenCore

extension EnrollCommand {
    struct CameraResult: Codable {
        struct Template: Codable {
            let templateID: Int64; let pose: String; let yaw: Double; let noseDrop: Double; let quality: FaceQuality
            /// One stored template, as the human form lists it.
            var line: String {
                String(format: "  template #%lld  %@  yaw %+.2f  eyes %.0f px  sharpness %.0f", templateID, pose.padding(toLength: 7, withPad: " ", startingAt: 0),
                       yaw, quality.interEyeDistance, quality.sharpness)
            }
        }
        let status: String  // enrolled, refused, error
        let person: Int64?
        let source: String
        let templates: [Template]
        let frames: Int
        let usableFrames: Int
        let seconds: Double
        /// From the capture's start to the templates stored (jitter and checks included).
        let totalSeconds: Double
        /// live, or not_checked (no PAD model) with the reason.
        let liveness: String
        let livenessScore: Double?
        let reasons: [String]?
        /// The second recognition model's templates of the same faces, in the order of
        /// `templates`, when the second model is installed.
        var secondModel: String? = nil
        var secondTemplateIDs: [Int64]? = nil
        /// The human form's line for them.
        var secondLine: String? {
            guard let m = secondModel, let ids = secondTemplateIDs, !ids.isEmpty else { return nil }
            return "  and \(ids.count) \(m) template\(ids.count == 1 ? "" : "s") of the same faces"
        }
    }

    /// The capture at a camera, with a live line on the terminal that says what to do.
    func runAtCamera(_ source: String) throws {
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        let engine = try global.loadEngine()
        let frameSource = try Self.openCamera(source, framesSocket: global.wardenHome.file("frames.sock"))
        defer { frameSource.stop() }
        var pad: LivenessDetector? = nil
        var padProblem: String? = nil
        do { pad = try LivenessDetector(locator: global.padModelLocator) } catch { padProblem = error.description.components(separatedBy: "\n").first }
        var settings = CameraCapture.Settings()
        settings.seconds = seconds
        settings.templates = templates
        let capture = CameraCapture(engine: engine, settings: settings, liveness: pad)
        // With the second model installed, the chosen faces become templates of both models.
        capture.second = try? SecondModelLoading.load(global: global, metricHead: try global.metricHead()).model?.make()
        let view = CaptureView(json: global.json)
        view.start("enrolling #\(p.id!) \(p.displayName) at \(source): look at the camera" + (pad == nil ? " (liveness not checked: \(padProblem ?? "no PAD model"))" : ""))
        let started = Date()
        let outcome = capture.run(frameSource) { view.update($0, wanted: templates) }
        view.finish()

        func report(_ r: CameraResult) throws {
            if global.json { try Output.json(r) }
            if r.status != "enrolled" { throw ExitCode(1) }
        }
        func refused(_ why: String) throws {
            if !global.json { Output.error("not enrolled: \(why)") }
            try report(CameraResult(status: "refused", person: p.id, source: source, templates: [], frames: 0, usableFrames: 0, seconds: 0,
                                    totalSeconds: Date().timeIntervalSince(started), liveness: pad == nil ? "not_checked" : "refused", livenessScore: nil, reasons: [why]))
        }
        switch outcome {
        case .refused(let why): try refused(why)
        case .notLive(let verdict, let why):
            // An attack is an event to keep: someone tried to enroll a print or a screen.
            if verdict == .attack {
                try? global.recordAdmin("admin.enroll_refused", by: op.resolved, subject: "person:\(p.id!)", detail: ["source": source, "reason": why])
            }
            try refused(why)
        case .captured(let c):
            let enroller = Enroller(engine: engine, db: db, thresholds: try global.thresholds())
            var gallery = try global.loadGallery(db)
            var secondGallery = Gallery(modelID: capture.second?.modelID ?? "none")
            let stored: [FaceTemplate]
            do { stored = try enroller.enroll(captured: c, source: source, for: p, force: force, by: op.resolved, gallery: &gallery, secondGallery: &secondGallery) } catch {
                if !global.json { Output.error("not enrolled: \(error)") }
                try report(CameraResult(status: "refused", person: p.id, source: source, templates: [], frames: c.frames, usableFrames: c.usable,
                                        seconds: c.seconds, totalSeconds: Date().timeIntervalSince(started),
                                        liveness: c.liveness?.verdict.rawValue ?? "not_checked", livenessScore: c.liveness?.mean, reasons: ["\(error)"]))
                return
            }
            let rows = zip(stored, c.chosen).map { CameraResult.Template(templateID: $0.id!, pose: $1.bin.rawValue, yaw: $1.pose.yaw, noseDrop: $1.pose.noseDrop, quality: $1.quality) }
            var result = CameraResult(status: "enrolled", person: p.id, source: source, templates: rows, frames: c.frames, usableFrames: c.usable,
                                      seconds: c.seconds, totalSeconds: Date().timeIntervalSince(started), liveness: c.liveness?.verdict.rawValue ?? "not_checked", livenessScore: c.liveness?.mean,
                                      reasons: padProblem.map { ["liveness not checked: \($0)"] })
            if secondGallery.count > 0 {
                result.secondModel = secondGallery.modelID
                result.secondTemplateIDs = stored.filter { $0.modelID == secondGallery.modelID }.map { $0.id! }
            }
            if !global.json {
                print(String(format: "enrolled #%lld %@ from %@: %d template%@ in %.1f s (capture %.1f s, %d frames, %d usable)", p.id!, p.displayName, source,
                             rows.count, rows.count == 1 ? "" : "s", result.totalSeconds, c.seconds, c.frames, c.usable))
                for r in rows { print(r.line) }
                if let line = result.secondLine { print(line) }
                if let l = c.liveness { print(String(format: "  liveness: %@ (bona fide %.3f over %d frames)", l.verdict.rawValue, l.mean, l.frames)) }
                else { print("  liveness: not checked (\(padProblem ?? "no PAD model")); `warden pad models` says what to install") }
            }
            try report(result)
        }
    }

    /// A camera by what the argument looks like.
    static func openCamera(_ source: String, framesSocket: String) throws -> any FrameSource {
        var isDirectory: ObjCBool = false
        if source.hasPrefix("/dev/") { return V4L2Source(device: source, width: 640, height: 480, fps: 15, clock: SystemClock(), onEvent: { _ in }) }
        if source.contains("://") { return FFmpegSource(input: source, width: 640, height: 480, fps: 10, loop: false, clock: SystemClock(), onEvent: { _ in }) }
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            // A door id: the camera of the controller running that door, in this home.
            if !source.contains("/"), SharedDoorCamera.available(path: framesSocket) { return SharedDoorCamera(path: framesSocket, door: source) }
            throw CLIError("\(source): no such camera, stream, video file or image folder, and no controller running in this home lends a door of that name")
        }
        if isDirectory.boolValue {
            do { return try ImageSequenceSource(folder: source, fps: 10, clock: SystemClock()) } catch { throw CLIError("\(error)") }
        }
        return FFmpegSource(input: source, width: 640, height: 480, fps: 10, loop: false, clock: SystemClock(), onEvent: { _ in })
    }
}

/// The live line: on a terminal, one line rewritten in place (what to do, poses seen,
/// progress); otherwise a line whenever the instruction changes. Always on stderr, so
/// --json's stdout stays the outcome alone.
final class CaptureView {
    let tty = isatty(2) == 1
    let json: Bool
    private var lastHint = ""
    init(json: Bool) { self.json = json }

    func start(_ text: String) { write(text + "\n") }

    func update(_ p: CameraCapture.Progress, wanted: Int) {
        let poses = TemplateSelection.PoseBin.allCases.map { p.covered.contains($0) ? $0.rawValue : "·" }.joined(separator: " ")
        let filled = min(wanted, p.usable)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: max(0, wanted - filled))
        if tty {
            write(String(format: "\r\u{1b}[2K[%@] %4.1f s  poses: %@  %@", bar, p.elapsed, poses, p.hint))
        } else if p.hint != lastHint {
            write(String(format: "%4.1f s: %@ (poses: %@)\n", p.elapsed, p.hint, poses))
        }
        lastHint = p.hint
    }

    func finish() { if tty { write("\n") } }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

extension EnrollCommand {
    /// The capture at a door of the fleet: the server hands it to the board running the
    /// door, and this follows its progress until the templates are stored or refused.
    func runAtDoorThroughServer(_ remote: RemoteAdmin, door: String) throws {
        guard !door.contains("/"), !door.contains("://") else {
            throw CLIError("with a server, --camera names a door of the fleet (the board running it captures); \(door) is a camera of this machine")
        }
        let started = Date()
        var status = try remote.post(CaptureJobStatus.self, AdminPath.enrollCamera,
                                     AdminCameraEnroll(person: person, door: door, seconds: seconds, templates: templates, force: force))
        let view = CaptureView(json: global.json)
        view.start("enrolling #\(status.personID) at door \(door) of controller \(status.controller) (through \(remote.server)): the person looks at the camera")
        var shown = 0
        while !status.state.isFinal {
            status = try remote.get(CaptureJobStatus.self, AdminPath.enrollCameraStatus, query: ["job": status.job, "after": String(status.version), "wait": "10"])
            if let p = status.progress, status.version != shown {
                shown = status.version
                view.update(CameraCapture.Progress(elapsed: p.elapsed, frames: p.frames, usable: p.usable,
                                                   covered: p.covered.compactMap(TemplateSelection.PoseBin.init(rawValue:)), hint: p.hint), wanted: templates)
            }
        }
        view.finish()
        let r = status.result
        let rows = zip(status.templateIDs, r?.templates ?? []).map { id, t in
            CameraResult.Template(templateID: id, pose: t.pose, yaw: t.yaw, noseDrop: t.noseDrop,
                                  quality: FaceQuality(interEyeDistance: t.interEyeDistance, sharpness: t.sharpness, yaw: t.yaw, roll: t.roll, detectionScore: t.detectionScore))
        }
        let source = "door \(door) of controller \(status.controller)"
        let enrolled = status.state == .enrolled
        let reasons = enrolled ? r?.livenessNote.map { ["liveness not checked at the board: \($0)"] } : [status.reason ?? "the capture failed"]
        var result = CameraResult(status: enrolled ? "enrolled" : "refused", person: status.personID, source: source, templates: rows, frames: r?.frames ?? 0,
                                  usableFrames: r?.usable ?? 0, seconds: r?.seconds ?? 0, totalSeconds: Date().timeIntervalSince(started),
                                  liveness: r?.liveness ?? "not_checked", livenessScore: r?.livenessScore, reasons: reasons)
        if let model = status.secondModel, let ids = status.secondTemplateIDs, !ids.isEmpty { result.secondModel = model; result.secondTemplateIDs = ids }
        if global.json { try Output.json(result) } else if enrolled {
            print(String(format: "enrolled #%lld at %@: %d template%@ in %.1f s (capture %.1f s, %d frames, %d usable)", status.personID, source,
                         rows.count, rows.count == 1 ? "" : "s", result.totalSeconds, result.seconds, result.frames, result.usableFrames))
            for t in rows { print(t.line) }
            if let line = result.secondLine { print(line) }
            if let s = r?.livenessScore { print(String(format: "  liveness: %@ (bona fide %.3f)", result.liveness, s)) }
            else { print("  liveness: not checked at the board (\(r?.livenessNote ?? "no PAD model"))") }
        } else {
            Output.error("not enrolled: \(status.reason ?? "the capture failed")")
        }
        if !enrolled { throw ExitCode(1) }
    }
}
