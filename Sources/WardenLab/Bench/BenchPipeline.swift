import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import Capture
import Controller
import FaceKit
import Foundation
import Matching
import OpenCVFaces
import PresentationAttack

struct BenchPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Time frame-to-decision latency and frames per second at 480p and 720p.",
        discussion: """
        Builds image sequences from ../shared/faces: for each identity, one photo is \
        enrolled and others are shown as a person walking up to the door (five frames each, \
        the face growing), framed as a 640x480 and a 1280x720 camera would, stored as JPEG. \
        Each frame goes through Warden's door pipeline as `warden run` does it: decode, \
        detection (at most 640 px wide), tracking, an embedding only when the face is new \
        or better than the last one embedded, and a 1:N search. Latency is from the JPEG \
        to the answer for that frame; frames per second is frames over total time, one \
        thread. With --peer-python, bench/peers/pipeline_peer.py runs face_recognition \
        the way its webcam examples do (every frame: detect, encode, compare) on the same \
        files in the same run.

        Example:
          warden bench pipeline --peer-python bench/.venv/bin/python
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Folder with one folder per identity. Default: ../shared/faces.") var images: String?
    @Option(help: "At most this many identities.") var people = 26
    @Option(help: "Photos shown per identity (each as a five-frame approach).") var photos = 2
    @Option(help: "Detector upsampling, for both pipelines (the door default is 0).") var upsample = 0
    @Option(name: .customLong("peer-python"), help: "Python with face_recognition installed (bench/.venv/bin/python).")
    var peerPython: String?
    @Option(name: .customLong("whole-frame-every"), help: "Scan the whole frame every N frames and around the tracked faces in between, as doors do (1: the whole frame every time).")
    var wholeFrameEvery = ScanPlan.door.wholeFrameEvery
    @Flag(name: .customLong("no-liveness"), help: "Skip the run with presentation-attack detection (it runs when the PAD models are found).")
    var noLiveness = false
    @Flag(name: .customLong("no-second-model"), help: "Skip the runs with the second face model (they run when SFace and the 68-point predictor are installed).")
    var noSecondModel = false
    @Option(help: "Also run the frames through the door's inference worker with this many stages: 2 detects the next frame on a second thread while one embeds, as `warden run` does when the board has two cores per camera (1: skip).")
    var stages = InferenceWorker.stages(cameras: 1)
    @Option(name: .customLong("trace"), help: "Write every timed frame's faces (scan, box, quality, embedded, answer, distance) to this file as JSON lines, to compare two runs frame by frame.")
    var trace: String?

    /// One face of one timed frame, as `--trace` writes it.
    struct TraceLine: Codable {
        let run: String
        let resolution: String
        let frame: Int
        let truth: String
        /// "whole", "region" or "region-missed" (a region that lost a face, then the whole frame).
        let scan: String
        let track: Int
        let box: [Int]
        let quality: Double
        let embedded: Bool
        /// The name this embedding gave (nil: not embedded, or not recognized).
        let answer: String?
        let distance: Double?
        let threshold: Double?
        /// The name the track holds after this frame.
        let trackAnswer: String?
    }

    struct Side: Codable {
        let frameMs: SampleStats
        let fps: Double
        let frames: Int
        let faces: Int
        /// Fresh embeddings that named the right person, and a wrong one.
        let correct: Int
        let wrong: Int
        let embeddings: Int?
        /// Each presentation-attack pass (one per fresh embedding), when PAD ran.
        var padMsPerFace: SampleStats? = nil
        /// Per frame, the median milliseconds of each stage (decode, detect with landmarks,
        /// embed, PAD, search) and their means: a regression shows where it happened.
        var stageMedianMs: [String: Double]? = nil
        var stageMeanMs: [String: Double]? = nil
        /// How Warden's frames were scanned: whole, region, region missed (then whole).
        var scans: ScanCounts? = nil
        /// Faces per frame named rightly and wrongly by their track's latest embedding, as the
        /// door holds a track's answer between embeddings (the reference embeds every face,
        /// so for it this is the same as `correct`).
        var framesNamedRight: Int? = nil
        var framesNamedWrong: Int? = nil
    }
    struct ResolutionResult: Codable {
        let resolution: String
        let warden: Side
        let peer: Side?
        /// Warden's frames per second over the reference's: above 1 is faster.
        let fpsRatio: Double?
        /// The same frames with presentation-attack detection on every fresh embedding.
        var wardenWithPAD: Side? = nil
        var fpsRatioWithPAD: Double? = nil
        /// The same frames through the door's two-stage inference worker (detection of the
        /// next frame on a second thread while this one embeds), with PAD when it ran:
        /// frames per second over each person's walk-up, and the answers, which must be
        /// those of one thread.
        var wardenTwoStages: Side? = nil
        var fpsRatioTwoStages: Double? = nil
        var twoStagesSameAnswers: Bool? = nil
        /// The same frames with the second model (SFace) embedding every face dlib embeds,
        /// answered on the fusion, with PAD when it ran; the two-stage run then uses it too,
        /// as a door with the model installed does.
        var wardenWithSecond: Side? = nil
        var fpsRatioWithSecond: Double? = nil
    }
    struct Report: Codable { let people: Int; let framesPerPerson: Int; let upsample: Int; let wholeFrameEvery: Int; let results: [ResolutionResult]; let wardenPeakRSSMiB: Double; let peerPeakRSSMiB: Double? }

    func run() throws {
        let root = images.map { URL(fileURLWithPath: $0) } ?? FaceDataset.shared
        let identities = try pickIdentities(root)
        guard identities.count >= 2 else { throw CLIError("need at least two identity folders with 1+\(photos) photos in \(root.path)") }
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }
        // One BLAS thread per call, as `warden run` sets it: OpenBLAS's own threads would
        // spin on the core the second inference stage detects on.
        BLASThreads.limit(to: 1)
        var pad: LivenessDetector? = nil
        if !noLiveness {
            do { pad = try LivenessDetector(locator: global.padModelLocator) } catch {
                if !global.json { log("no presentation-attack run: \(error.description.components(separatedBy: "\n").first ?? "")") }
            }
            // One thread, as the door pipeline runs it (one inference thread per camera).
            LivenessDetector.setThreads(1)
        }
        // The second model, as `warden run` loads it: one recognizer per inference thread.
        var makeSecond: (() throws -> any FaceRecognizer)? = nil
        if !noSecondModel {
            do {
                let installed = try InstalledSecondModel(locator: global.recognitionModelLocator)
                makeSecond = { try installed.makeRecognizer() }
            } catch {
                if !global.json { log("no second-model run: \(InstalledSecondModel.problem(error).components(separatedBy: "\n").first ?? "")") }
            }
        }
        let second = try makeSecond?()
        var traceSink: TraceSink? = nil
        if let trace { traceSink = try TraceSink(path: trace) }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-pipeline-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }

        // Enrollment: one photo each, untimed.
        let galleryDir = work.appendingPathComponent("gallery")
        try FileManager.default.createDirectory(at: galleryDir, withIntermediateDirectories: true)
        var gallery = Gallery()
        var secondGallery = Gallery(modelID: second?.modelID ?? "none")
        var names: [Int64: String] = [:]
        for (i, person) in identities.enumerated() {
            let photo = try RGBImage(contentsOf: person.enroll, limits: ImageLimits(strict: false))
            guard let face = try engine.detect(photo, options: DetectionOptions(upsample: 1)).first else { continue }
            try gallery.add(templateID: Int64(i + 1), personID: Int64(i + 1), embedding: try engine.embed(photo, face: face))
            if let second, let e = try? second.embed(photo, face: face) { try secondGallery.add(templateID: Int64(1000 + i + 1), personID: Int64(i + 1), embedding: e) }
            names[Int64(i + 1)] = person.name
            try Data(try photo.jpegData(quality: 95)).write(to: galleryDir.appendingPathComponent("\(person.name).jpg"))
        }

        var results: [ResolutionResult] = []
        var peerRSS: Double? = nil
        for (w, h) in [(640, 480), (1280, 720)] {
            let dir = work.appendingPathComponent("\(w)x\(h)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var frames: [(jpeg: [UInt8], truth: String)] = []
            for person in identities {
                for path in person.shown {
                    let photo = try RGBImage(contentsOf: path, limits: ImageLimits(strict: false))
                    let fit = min(Double(w) / Double(photo.width), Double(h) / Double(photo.height))
                    for step in 0..<5 {   // walking up: the face grows from 70% to 100% of the frame's fit
                        let s = fit * (0.7 + 0.075 * Double(step))
                        // Centred at that size: `letterboxed` would scale every step back to the same fit
                        // (until 2026-12-02 it did, and the five frames showed one face size).
                        let frame = photo.resized(width: max(1, Int(Double(photo.width) * s)), height: max(1, Int(Double(photo.height) * s))).centered(width: w, height: h)
                        let jpeg = try frame.jpegData(quality: 90)
                        try Data(jpeg).write(to: dir.appendingPathComponent(String(format: "%04d-%@.jpg", frames.count, person.name)))
                        frames.append((jpeg, person.name))
                    }
                }
            }
            if !global.json { log("\(w)x\(h): \(frames.count) frames of \(identities.count) people") }
            let warden = try measure(engine: engine, frames: frames, gallery: gallery, names: names, trace: traceSink.map { ($0, "warden", "\(w)x\(h)") })
            var peer: Side? = nil
            if let peerPython {
                let data = try runPeerScript(python: peerPython, script: "bench/peers/pipeline_peer.py",
                                             arguments: ["--frames", dir.path, "--gallery", galleryDir.path, "--upsample", String(upsample)])
                let p = try JSONDecoder().decode(PeerOutput.self, from: data)
                peer = Side(frameMs: SampleStats(p.frame_ms), fps: Double(p.frames) / (p.frame_ms.reduce(0, +) / 1000), frames: p.frames, faces: p.faces,
                            correct: p.correct, wrong: p.wrong, embeddings: nil)
                peerRSS = max(peerRSS ?? 0, p.peak_rss_mib)
            }
            var result = ResolutionResult(resolution: "\(w)x\(h)", warden: warden, peer: peer, fpsRatio: peer.map { warden.fps / $0.fps })
            if let pad {
                let withPAD = try measure(engine: engine, frames: frames, gallery: gallery, names: names, liveness: pad,
                                          trace: traceSink.map { ($0, "warden+pad", "\(w)x\(h)") })
                result.wardenWithPAD = withPAD
                result.fpsRatioWithPAD = peer.map { withPAD.fps / $0.fps }
            }
            if let second {
                let withSecond = try measure(engine: engine, frames: frames, gallery: gallery, names: names, liveness: pad,
                                             second: (second, secondGallery))
                result.wardenWithSecond = withSecond
                result.fpsRatioWithSecond = peer.map { withSecond.fps / $0.fps }
            }
            if stages >= 2 {
                let two = try measureTwoStages(engine: engine, frames: frames, gallery: gallery, names: names, liveness: pad,
                                               second: try makeSecond.map { (try $0(), secondGallery) })
                let oneThread = result.wardenWithSecond ?? result.wardenWithPAD ?? warden
                result.wardenTwoStages = two
                result.fpsRatioTwoStages = peer.map { two.fps / $0.fps }
                result.twoStagesSameAnswers = two.embeddings == oneThread.embeddings && two.correct == oneThread.correct && two.wrong == oneThread.wrong
                    && two.framesNamedRight == oneThread.framesNamedRight && two.framesNamedWrong == oneThread.framesNamedWrong
            }
            results.append(result)
        }
        let report = Report(people: identities.count, framesPerPerson: photos * 5, upsample: upsample, wholeFrameEvery: wholeFrameEvery, results: results,
                            wardenPeakRSSMiB: peakRSSMiB(), peerPeakRSSMiB: peerRSS)
        if global.json { try Output.json(report); return }
        print(render(report))
    }

    private struct PeerOutput: Decodable { let frame_ms: [Double]; let correct: Int; let wrong: Int; let faces: Int; let frames: Int; let peak_rss_mib: Double }

    /// Warden's door pipeline, as `warden run` drives it, one frame at a time.
    private func measure(engine: FaceEngine, frames: [(jpeg: [UInt8], truth: String)], gallery: Gallery, names: [Int64: String],
                         liveness: LivenessDetector? = nil, second: (recognizer: any FaceRecognizer, gallery: Gallery)? = nil,
                         trace: (sink: TraceSink, run: String, resolution: String)? = nil) throws -> Side {
        var times: [Double] = [], padTimes: [Double] = []
        var stageTimes: [String: [Double]] = ["decode": [], "detect": [], "embed": [], "pad": [], "search": []]
        if second != nil { stageTimes["second"] = [] }
        var tally = AnswerTally(names: names)
        let identifier = Identifier()
        var scans = ScanCounts()
        for warm in [true, false] {
            let pipeline = doorPipeline()
            var clock = Date(timeIntervalSince1970: 0)
            var previousTruth = ""
            var untimed = ScanCounts()
            tally = AnswerTally(names: names)
            defer {
                if !warm {
                    scans = pipeline.scans
                    scans.wholeFrame -= untimed.wholeFrame; scans.region -= untimed.region; scans.regionMissed -= untimed.regionMissed
                }
            }
            for f in frames {
                // A new person walks up after the last one left: the camera saw nobody for two
                // frames (not timed), so their track ended, as at a door. (Until 2026-12-02 the
                // bench only left a time gap, which does not end a track: every person continued
                // the last one's track, and whether a frame was embedded depended on the faces
                // of the people before.)
                if f.truth != previousTruth && !previousTruth.isEmpty {
                    let before = pipeline.scans
                    let size = try RGBImage(decoding: f.jpeg)
                    for _ in 0..<2 {
                        clock = clock.addingTimeInterval(1)
                        _ = try pipeline.process(Frame(image: RGBImage(width: size.width, height: size.height), at: clock, sequence: 0), engine: engine, liveness: liveness,
                                                 second: second?.recognizer)
                    }
                    untimed.wholeFrame += pipeline.scans.wholeFrame - before.wholeFrame
                    untimed.region += pipeline.scans.region - before.region
                    untimed.regionMissed += pipeline.scans.regionMissed - before.regionMissed
                }
                clock = clock.addingTimeInterval(f.truth == previousTruth ? 0.2 : 20)
                previousTruth = f.truth
                var found: [(track: Int, answer: Int64?, best: Double?, threshold: Double)] = []
                let scansBefore = pipeline.scans
                var decodeMs = 0.0, searchMs = 0.0
                let (observation, ms) = try milliseconds { () throws -> FaceObservation in
                    let (image, d) = try milliseconds { try RGBImage(decoding: f.jpeg) }
                    decodeMs = d
                    let o = try pipeline.process(Frame(image: image, at: clock, sequence: 0), engine: engine, liveness: liveness, second: second?.recognizer)
                    (found, searchMs) = milliseconds { identify(o, identifier: identifier, gallery: gallery, second: second?.gallery) }
                    return o
                }
                if warm { continue }
                times.append(ms)
                stageTimes["decode"]!.append(decodeMs); stageTimes["search"]!.append(searchMs)
                stageTimes["detect"]!.append(observation.stages.detect * 1000); stageTimes["embed"]!.append(observation.stages.embed * 1000)
                stageTimes["pad"]!.append(observation.stages.liveness * 1000)
                if second != nil { stageTimes["second"]!.append(observation.stages.secondEmbed * 1000) }
                // PAD per face: the frame's PAD time over the faces it scored (one, nearly always).
                let scored = observation.faces.filter { $0.liveness != nil || $0.livenessError != nil }.count
                if scored > 0 { padTimes += Array(repeating: observation.stages.liveness * 1000 / Double(scored), count: scored) }
                tally.add(observation, fresh: found.map { ($0.track, $0.answer) }, truth: f.truth)
                if let trace {
                    let now = pipeline.scans
                    let scan = now.regionMissed > scansBefore.regionMissed ? "region-missed" : now.region > scansBefore.region ? "region" : "whole"
                    let mine = Dictionary(found.map { ($0.track, $0) }, uniquingKeysWith: { a, _ in a })
                    for tf in observation.faces {
                        let b = tf.face.box
                        try trace.sink.write(TraceLine(run: trace.run, resolution: trace.resolution, frame: times.count - 1, truth: f.truth, scan: scan, track: tf.track,
                                                       box: [b.left, b.top, b.right, b.bottom], quality: tf.quality, embedded: tf.embedding != nil,
                                                       answer: (mine[tf.track]?.answer).flatMap { names[$0] }, distance: mine[tf.track]?.best,
                                                       threshold: mine[tf.track]?.threshold, trackAnswer: (tally.trackAnswer[tf.track] ?? nil).flatMap { names[$0] }))
                    }
                }
            }
        }
        return Side(frameMs: SampleStats(times), fps: Double(times.count) / (times.reduce(0, +) / 1000), frames: times.count, faces: tally.faces,
                    correct: tally.correct, wrong: tally.wrong, embeddings: tally.embeddings, padMsPerFace: padTimes.isEmpty ? nil : SampleStats(padTimes),
                    stageMedianMs: stageTimes.mapValues { SampleStats($0).median }, stageMeanMs: stageTimes.mapValues { $0.reduce(0, +) / Double(max(1, $0.count)) },
                    scans: scans, framesNamedRight: tally.namedRight, framesNamedWrong: tally.namedWrong)
    }

    /// A door's pipeline with this run's settings, fresh for each pass.
    private func doorPipeline() -> FacePipeline {
        FacePipeline(options: DetectionOptions(upsample: upsample, maximumFaces: 4, maximumDetectionWidth: 640), framesRequired: 3,
                     scan: ScanPlan(wholeFrameEvery: wholeFrameEvery))
    }

    /// Answers over a run, as the door holds them: each fresh embedding's answer, and per
    /// frame the answer of each face's track (its latest embedding's).
    struct AnswerTally {
        let names: [Int64: String]
        var trackAnswer: [Int: Int64?] = [:]
        var faces = 0, correct = 0, wrong = 0, embeddings = 0, namedRight = 0, namedWrong = 0

        /// `fresh`: the answers of this frame's embeddings, by track.
        mutating func add(_ observation: FaceObservation, fresh: [(track: Int, answer: Int64?)], truth: String) {
            faces += observation.faces.count
            embeddings += observation.faces.filter { $0.embedding != nil }.count
            for a in fresh { trackAnswer[a.track] = a.answer }
            for tf in observation.faces {
                guard let answer = trackAnswer[tf.track] ?? nil, let name = names[answer] else { continue }
                if name == truth { namedRight += 1 } else { namedWrong += 1 }
            }
            correct += fresh.filter { $0.answer.flatMap { names[$0] } == truth }.count
            wrong += fresh.filter { $0.answer != nil && names[$0.answer!] != truth }.count
        }
    }

    /// The 1:N answer for each freshly embedded face of an observation.
    /// `second`: the second model's gallery; each face is then answered on the fusion, as a
    /// door with the model installed answers it.
    private func identify(_ o: FaceObservation, identifier: Identifier, gallery: Gallery, second: Gallery? = nil) -> [(track: Int, answer: Int64?, best: Double?, threshold: Double)] {
        o.faces.compactMap { tf in
            guard let e = tf.embedding else { return nil }
            let id = second.map { g2 in
                SFaceRecognizer.measuredFusion.identify(first: e.values, second: tf.secondEmbedding?.values, firstGallery: gallery, secondGallery: g2,
                                                        thresholds: identifier.thresholds, isEligible: { _ in true }).identification
            } ?? identifier.identify(e.values, in: gallery, isEligible: { _ in true })
            if case .identified(let pid) = id.outcome { return (tf.track, pid, id.candidates.first?.distance, id.threshold) }
            return (tf.track, nil, id.candidates.first?.distance, id.threshold)
        }
    }

    /// The frames through `InferenceWorker` with two stages, as a door's camera feeds it:
    /// decoded on this thread, detected on one worker thread while the other tracks and
    /// embeds, answers searched here as the controller's loop does. Each person's walk-up
    /// is timed from its first frame in to its last answer out; the two empty frames
    /// between people are not timed, and the worker is drained before each person.
    private func measureTwoStages(engine: FaceEngine, frames: [(jpeg: [UInt8], truth: String)], gallery: Gallery, names: [Int64: String],
                                  liveness: LivenessDetector?, second: (recognizer: any FaceRecognizer, gallery: Gallery)? = nil) throws -> Side {
        let identifier = Identifier()
        var tally = AnswerTally(names: names)
        var walkMs: [Double] = [], latencies: [Double] = []
        for warm in [true, false] {
            let pipeline = doorPipeline()
            let worker = InferenceWorker(engine: engine, pipeline: pipeline, liveness: liveness, second: second?.recognizer, stages: 2)
            defer { worker.stop() }
            var run = AnswerTally(names: names)
            var clock = Date(timeIntervalSince1970: 0)
            var start = 0
            while start < frames.count {
                var end = start
                while end < frames.count && frames[end].truth == frames[start].truth { end += 1 }
                if start > 0 {   // the camera saw nobody for two frames: the last person's track ends
                    let size = try RGBImage(decoding: frames[start].jpeg)
                    for _ in 0..<2 {
                        clock = clock.addingTimeInterval(1)
                        worker.submitWaiting(Frame(image: RGBImage(width: size.width, height: size.height), at: clock, sequence: 0))
                    }
                    while !(worker.takeWaiting().isEmpty && worker.isIdle) {}
                }
                clock = clock.addingTimeInterval(20)
                var submittedAt: [Date: UInt64] = [:]
                var received = 0
                let walkStart = DispatchTime.now().uptimeNanoseconds
                func consume(_ observations: [FaceObservation]) {
                    for o in observations {
                        let fresh = identify(o, identifier: identifier, gallery: gallery, second: second?.gallery).map { ($0.track, $0.answer) }
                        run.add(o, fresh: fresh, truth: frames[start].truth)
                        if let t = submittedAt[o.at] { latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) }
                        received += 1
                    }
                }
                for k in start..<end {
                    let at = k == start ? clock : clock.addingTimeInterval(0.2 * Double(k - start))
                    submittedAt[at] = DispatchTime.now().uptimeNanoseconds
                    worker.submitWaiting(Frame(image: try RGBImage(decoding: frames[k].jpeg), at: at, sequence: k))
                    consume(worker.take())
                }
                while received < end - start {
                    let more = worker.takeWaiting()
                    if more.isEmpty { break }
                    consume(more)
                }
                guard received == end - start else { throw CLIError("the two-stage worker answered \(received) of \(end - start) frames (\(worker.errors) failed)") }
                if !warm { walkMs.append(Double(DispatchTime.now().uptimeNanoseconds - walkStart) / 1e6) }
                clock = clock.addingTimeInterval(0.2 * Double(end - start - 1))
                start = end
            }
            if !warm { tally = run } else { latencies = [] }
        }
        let total = walkMs.reduce(0, +)
        return Side(frameMs: SampleStats(latencies), fps: Double(frames.count) / (total / 1000), frames: frames.count, faces: tally.faces,
                    correct: tally.correct, wrong: tally.wrong, embeddings: tally.embeddings, framesNamedRight: tally.namedRight, framesNamedWrong: tally.namedWrong)
    }

    private struct Identity { let name: String; let enroll: String; let shown: [String] }

    /// `--trace`'s file: one JSON object per line.
    final class TraceSink {
        private let handle: FileHandle
        private let encoder = JSONEncoder()
        init(path: String) throws {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CLIError("cannot create the trace file \(path)") }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            encoder.outputFormatting = [.sortedKeys]
        }
        func write(_ line: TraceLine) throws {
            handle.write(try encoder.encode(line) + Data("\n".utf8))
        }
        deinit { try? handle.close() }
    }

    private func pickIdentities(_ root: URL) throws -> [Identity] {
        let usable = try FaceDataset(root: root).identities(skipping: { $0.hasPrefix("faces94") }).filter { $0.images.count >= 1 + photos }
        // Names go into frame file names as NNNN-NAME: no "-" inside a name.
        return usable.prefix(people).map { p in
            Identity(name: p.name.replacingOccurrences(of: "-", with: "_"), enroll: p.images[0].path, shown: p.images[1...photos].map(\.path))
        }
    }

    private func log(_ s: String) { Output.note("bench: \(s)") }

    private func render(_ r: Report) -> String {
        var lines = ["Door pipeline benchmark: \(r.people) people, \(r.framesPerPerson) frames each, upsample \(r.upsample) (ms per frame, JPEG to answer)"]
        for res in r.results {
            lines.append("\n\(res.resolution)")
            lines.append("  pipeline     median    p99      fps     faces  embedded  right  wrong  (faces named right / wrong by their track)")
            func row(_ name: String, _ s: Side) {
                lines.append("  " + pad(name, 13) + pad(Output.fixed(s.frameMs.median, 1), 10) + pad(Output.fixed(s.frameMs.p99, 1), 9)
                             + pad(Output.fixed(s.fps, 1), 8) + pad(String(s.faces), 7) + pad(s.embeddings.map(String.init) ?? "all", 10)
                             + pad(String(s.correct), 7) + pad(String(s.wrong), 7)
                             + (s.framesNamedRight.map { "(\($0) / \(s.framesNamedWrong ?? 0))" } ?? ""))
            }
            row("Warden", res.warden)
            if let c = res.warden.scans {
                lines.append("  Warden scans: \(c.wholeFrame) whole frame, \(c.region) around the tracked faces, \(c.regionMissed) of those missed a face (whole frame every \(r.wholeFrameEvery))")
            }
            if let m = res.warden.stageMeanMs {
                lines.append("  Warden per stage, mean ms per frame: " + ["decode", "detect", "embed", "pad", "search"].map { "\($0) \(Output.fixed(m[$0] ?? 0, 1))" }.joined(separator: ", "))
            }
            if let p = res.wardenWithPAD {
                row("Warden+PAD", p)
                if let m = p.stageMeanMs {
                    lines.append("  Warden+PAD per stage, mean ms per frame: " + ["decode", "detect", "embed", "pad", "search"].map { "\($0) \(Output.fixed(m[$0] ?? 0, 1))" }.joined(separator: ", "))
                }
            }
            if let p = res.wardenWithSecond {
                row(res.wardenWithPAD == nil ? "Warden+SFace" : "+PAD+SFace", p)
                if let m = p.stageMeanMs {
                    lines.append("  with SFace per stage, mean ms per frame: " + ["decode", "detect", "embed", "second", "pad", "search"].map { "\($0) \(Output.fixed(m[$0] ?? 0, 1))" }.joined(separator: ", "))
                }
            }
            if let t = res.wardenTwoStages {
                row((res.wardenWithPAD == nil ? "2 stages" : "2 stages+PAD") + (res.wardenWithSecond == nil ? "" : "+SF"), t)
                if let same = res.twoStagesSameAnswers {
                    lines.append("  2 stages: detection of the next frame on a second thread; latency is submit to answer; answers "
                                 + (same ? "the same as one thread's" : "DIFFER from one thread's"))
                }
            }
            if let p = res.peer { row("reference", p) }
            if let x = res.fpsRatio { lines.append("  Warden frames per second / reference: \(Output.fixed(x, 2))x") }
            if let x = res.fpsRatioWithPAD { lines.append("  Warden+PAD frames per second / reference: \(Output.fixed(x, 2))x") }
            if let x = res.fpsRatioWithSecond { lines.append("  Warden\(res.wardenWithPAD == nil ? "" : "+PAD")+SFace frames per second / reference: \(Output.fixed(x, 2))x") }
            if let x = res.fpsRatioTwoStages {
                lines.append("  Warden\(res.wardenWithPAD == nil ? "" : "+PAD")\(res.wardenWithSecond == nil ? "" : "+SFace") in 2 stages, frames per second / reference: \(Output.fixed(x, 2))x")
            }
            if let p = res.wardenWithPAD, let f = p.padMsPerFace {
                lines.append("  PAD per face: median \(Output.fixed(f.median, 1)) ms, p99 \(Output.fixed(f.p99, 1)) ms (target: at most 15 ms); per frame: median +\(Output.fixed(p.frameMs.median - res.warden.frameMs.median, 1)) ms")
            }
        }
        lines.append("\npeak RSS: Warden \(Output.fixed(r.wardenPeakRSSMiB, 0)) MiB" + (r.peerPeakRSSMiB.map { ", reference \(Output.fixed($0, 0)) MiB" } ?? ""))
        return lines.joined(separator: "\n")
    }
}
