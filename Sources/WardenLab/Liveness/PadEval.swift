import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import FaceKit
import Foundation
import Matching
import MatchingLab
import PresentationAttack

/// Presentation-attack detection measured in ISO/IEC 30107-3 terms: APCER per attack
/// species, BPCER, both with Wilson intervals, at the threshold in force; a DET plot.
struct PadEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure presentation-attack detection: APCER per attack species and BPCER, with 95% Wilson intervals.",
        discussion: """
        Every image's largest face (HOG, upsample 1) is scored once. Images with no face are \
        counted apart (failure to acquire), never as errors of either kind.

        --bona-fide DIR: live captures (identity folders such as ../shared/faces, or a flat \
        folder). --bona-fide-video FILE: a clip of a live person; its frames are decoded by \
        ffmpeg and cut into tracks of --frames consecutive face frames, scored as a door does \
        (the mean of the frames). --attack SPECIES=DIR: attacks of one species (print, \
        screen, ...). --made-up N: attacks made from the first photo of N bona fide \
        identities (a tilted flat sheet, a simulated screen, a simulated print); every one \
        is reported as made up.

        Also reported: bona fide photo groups (--frames photos of one identity, the mean \
        compared with the threshold). They are independent photos, so this is kinder than \
        a real track, whose frames share pose and light; the video tracks are the honest \
        per-track figure. --target-bpcer gives the threshold that would hold the per-photo \
        BPCER at that rate on this bona fide set (what the threshold in force was \
        calibrated from).

        This covers prints and screens only. Video replay of the real person and masks are \
        not covered, and no figure here is an ISO/IEC 30107-3 or iBeta result.

        Examples:
          warden pad eval --bona-fide ../shared/faces --bona-fide-video ../shared/pad/short_hamilton_clip.mp4 \\
              --attack print=prints/ --attack screen=screens/ --made-up 36 --plot /tmp/pad
        """
    )
    @OptionGroup var global: ModelCommandOptions
    @Option(help: "A folder of bona fide captures (repeatable).") var bonaFide: [String] = []
    @Option(help: "A bona fide video clip (repeatable).") var bonaFideVideo: [String] = []
    @Option(help: "SPECIES=DIR: a folder of attacks of one species (repeatable).") var attack: [String] = []
    @Option(help: "Make attacks from the first photo of this many bona fide identities.") var madeUp = 0
    @Option(help: "Use at most this many images per identity folder.") var maxPerIdentity = 1000
    @Option(help: "Fresh frames per track (the door's liveness_frames).") var frames = LivenessRule.standard.framesRequired
    @Option(help: "Bona fide threshold (default: the calibrated one in force).") var threshold: Double?
    @Option(help: "Also report the threshold that holds per-photo BPCER at this rate.") var targetBpcer = 0.05
    @Option(help: "Write the DET plot (SVG and PNG) into this folder.") var plot: String?
    @Option(help: "Write every sample's scores (JSON lines: set, both models' probabilities) to this file.") var dump: String?

    struct Rate: Codable {
        let name: String; let madeUp: Bool; let samples: Int; let errors: Int; let rate: Double; let low95: Double; let high95: Double
        init(_ name: String, madeUp: Bool = false, errors: Int, of n: Int) {
            self.name = name; self.madeUp = madeUp; samples = n; self.errors = errors; rate = n == 0 ? 0 : Double(errors) / Double(n)
            let ci = wilsonInterval(errors, n); low95 = ci.low; high95 = ci.high
        }
    }
    struct Report: Codable {
        let threshold: Double; let framesPerTrack: Int; let framing: PADFraming
        let bpcerPhotos: Rate?; let bpcerPhotoGroups: Rate?; let bpcerVideoTracks: Rate?; let bpcerVideoFrames: Rate?
        let apcer: [Rate]; let apcerTracks: [Rate]
        let noFace: Int
        let thresholdForTargetBPCER: Double?; let targetBPCER: Double
        let upstreamArgmaxBPCERPhotos: Rate?
    }

    func validate() throws {
        if bonaFide.isEmpty && bonaFideVideo.isEmpty && attack.isEmpty { throw ValidationError("give --bona-fide, --bona-fide-video or --attack") }
        for a in attack where !a.contains("=") { throw ValidationError("--attack takes SPECIES=DIR, e.g. print=prints/") }
        guard frames >= 1 else { throw ValidationError("--frames must be at least 1") }
    }

    func run() throws {
        let engine = try global.loadEngine()
        let pad = try global.loadLiveness()
        let t = threshold ?? LivenessRule.standard.threshold
        var noFace = 0
        var set = ""
        var dumped: [String] = []
        func score(_ image: RGBImage) throws -> LivenessScore? {
            let faces = try engine.detect(image, options: DetectionOptions(upsample: 1))
            guard let f = faces.largest else { noFace += 1; return nil }
            let s = try pad.score(image, face: f)
            if dump != nil { dumped.append("{\"set\":\"\(set)\",\"v2\":\(s.v2),\"v1se\":\(s.v1se)}") }
            return s
        }
        func note(_ s: String) { if !global.json { Output.note("pad eval: \(s)") } }

        // Bona fide photos, kept per identity for the groups and the made-up attacks.
        var bonaByIdentity: [(name: String, scores: [LivenessScore], first: RGBImage?)] = []
        for dir in bonaFide {
            let ds = FaceDataset(root: URL(fileURLWithPath: dir))
            var groups = try ds.identities().map { ($0.name, Array($0.images.prefix(maxPerIdentity))) }
            let loose = try ds.looseImages()
            if !loose.isEmpty { groups.append(((dir as NSString).lastPathComponent, loose)) }
            for (name, urls) in groups {
                set = "bona:" + name
                var scores: [LivenessScore] = [], first: RGBImage? = nil
                for u in urls {
                    guard let img = try? RGBImage(contentsOf: u.path) else { continue }
                    if let s = try score(img) { scores.append(s); if first == nil { first = img } }
                }
                bonaByIdentity.append((name, scores, first))
            }
            note("\(dir): \(bonaByIdentity.map(\.scores.count).reduce(0, +)) bona fide faces so far")
        }
        let bonaPhotos = bonaByIdentity.flatMap(\.scores).map(\.bonaFide)
        var groupMeans: [Double] = []
        for id in bonaByIdentity { groupMeans += Self.trackMeans(id.scores.map(\.bonaFide), frames: frames) }

        // Bona fide video: consecutive face frames cut into tracks.
        var videoFrames: [Double] = [], videoTracks: [Double] = []
        for clip in bonaFideVideo {
            set = "video"
            let scores = try Self.clipFrames(clip).compactMap { try score($0)?.bonaFide }
            videoFrames += scores
            videoTracks += Self.trackMeans(scores, frames: frames)
            note("\(clip): \(scores.count) frames with a face")
        }

        // Attacks: real species from folders, then the made-up ones.
        var species: [(name: String, madeUp: Bool, scores: [Double], tracks: [Double])] = []
        for a in attack {
            let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
            let urls = try FaceDataset(root: URL(fileURLWithPath: parts[1])).looseImages()
            set = "attack:" + parts[0]
            var s: [Double] = []
            for u in urls {
                let img: RGBImage
                do { img = try RGBImage(contentsOf: u.path) } catch { Output.error("\(u.path): \(error.description)"); continue }
                if let v = try score(img) { s.append(v.bonaFide) }
            }
            species.append((parts[0], false, s, []))
        }
        if madeUp > 0 {
            let stills = bonaByIdentity.compactMap(\.first).prefix(madeUp)
            for kind in MadeUpAttack.allCases {
                set = "attack:" + kind.rawValue
                var s: [Double] = [], tracks: [Double] = []
                for (i, still) in stills.enumerated() {
                    let series = try (0..<frames).compactMap { k in try score(kind.make(from: still, seed: UInt64(i * 31 + k + 1), phase: Double(k) * 0.7))?.bonaFide }
                    if let first = series.first { s.append(first) }
                    if series.count == frames { tracks.append(series.reduce(0, +) / Double(frames)) }
                }
                species.append((kind.rawValue, true, s, tracks))
            }
        }

        let sorted = bonaPhotos.sorted()
        let targetT = sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(targetBpcer * Double(sorted.count)))]
        let report = Report(
            threshold: t, framesPerTrack: frames, framing: pad.framing,
            bpcerPhotos: bonaPhotos.isEmpty ? nil : Rate("bona fide photos", errors: bonaPhotos.filter { $0 < t }.count, of: bonaPhotos.count),
            bpcerPhotoGroups: groupMeans.isEmpty ? nil : Rate("bona fide photo groups of \(frames) (optimistic)", errors: groupMeans.filter { $0 < t }.count, of: groupMeans.count),
            bpcerVideoTracks: videoTracks.isEmpty ? nil : Rate("bona fide video tracks of \(frames) frames", errors: videoTracks.filter { $0 < t }.count, of: videoTracks.count),
            bpcerVideoFrames: videoFrames.isEmpty ? nil : Rate("bona fide video frames", errors: videoFrames.filter { $0 < t }.count, of: videoFrames.count),
            apcer: species.map { Rate($0.name, madeUp: $0.madeUp, errors: $0.scores.filter { $0 >= t }.count, of: $0.scores.count) },
            apcerTracks: species.filter { !$0.tracks.isEmpty }.map { Rate($0.name + " tracks of \(frames)", madeUp: $0.madeUp, errors: $0.tracks.filter { $0 >= t }.count, of: $0.tracks.count) },
            noFace: noFace, thresholdForTargetBPCER: targetT, targetBPCER: targetBpcer,
            upstreamArgmaxBPCERPhotos: bonaPhotos.isEmpty ? nil : Rate("bona fide photos, upstream argmax rule", errors: bonaByIdentity.flatMap(\.scores).filter { !$0.upstreamSaysLive }.count, of: bonaPhotos.count))
        if let dump { try (dumped.joined(separator: "\n") + "\n").write(toFile: dump, atomically: true, encoding: .utf8) }
        if let plot { try writeDET(bona: bonaPhotos, tracks: videoTracks, species: species, threshold: t, to: plot) }
        if global.json { try Output.json(report); return }
        func line(_ r: Rate?, _ what: String) {
            guard let r else { return }
            print("  \(r.name)\(r.madeUp ? " [MADE UP]" : ""): \(what) \(Output.fixed(100 * r.rate, 1))% (\(r.errors)/\(r.samples); 95% \(Output.fixed(100 * r.low95, 1))-\(Output.fixed(100 * r.high95, 1))%)")
        }
        print("threshold \(Output.fixed(t)) on the pair's bona fide score (geometric mean of both models); \(frames) frames per track; \(counted(noFace, "image")) with no face left out")
        print("BPCER (bona fide refused):")
        for r in [report.bpcerPhotos, report.upstreamArgmaxBPCERPhotos, report.bpcerPhotoGroups, report.bpcerVideoFrames, report.bpcerVideoTracks] { line(r, "BPCER") }
        print("APCER (attacks accepted), per species:")
        for r in report.apcer + report.apcerTracks { line(r, "APCER") }
        if let targetT { print("threshold for \(Output.fixed(100 * targetBpcer, 1))% BPCER on these photos: \(Output.fixed(targetT))") }
        print("not covered: video replay of the real person, masks; no figure here is an ISO/IEC 30107-3 or iBeta result")
        if let plot { print("DET plot: \(plot)/pad-det.svg (and .png)") }
    }

    /// Consecutive, non-overlapping runs of `frames` scores, each as its mean.
    static func trackMeans(_ scores: [Double], frames: Int) -> [Double] {
        guard scores.count >= frames else { return [] }
        return stride(from: 0, to: scores.count - frames + 1, by: frames).map { i -> Double in
            scores[i..<(i + frames)].reduce(0, +) / Double(frames)
        }
    }

    /// Every frame of a clip, decoded by ffmpeg into a temporary folder.
    static func clipFrames(_ clip: String) throws -> [RGBImage] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pad-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ffmpeg", "-loglevel", "error", "-nostdin", "-i", clip, dir.appendingPathComponent("%05d.png").path]
        try p.run(); p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIError("\(clip): ffmpeg could not decode it (exit \(p.terminationStatus))") }
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().compactMap { try? RGBImage(contentsOf: dir.appendingPathComponent($0).path) }
    }

    /// APCER against BPCER as the threshold moves, both on log axes.
    func writeDET(bona: [Double], tracks: [Double], species: [(name: String, madeUp: Bool, scores: [Double], tracks: [Double])], threshold: Double, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let attacks = species.flatMap(\.scores)
        let real = species.filter { !$0.madeUp }.flatMap(\.scores), made = species.filter(\.madeUp).flatMap(\.scores)
        func curve(_ attack: [Double], _ bonaFide: [Double]) -> [(x: Double, y: Double)] {
            guard !attack.isEmpty, !bonaFide.isEmpty else { return [] }
            let floor = -3.0
            return stride(from: 0.0, through: 1.0, by: 0.002).map { th in
                let bp = Double(bonaFide.filter { $0 < th }.count) / Double(bonaFide.count)
                let ap = Double(attack.filter { $0 >= th }.count) / Double(attack.count)
                return (x: bp > 0 ? max(floor, log10(bp)) : floor, y: ap > 0 ? max(floor, log10(ap)) : floor)
            }
        }
        var series: [(name: String, points: [(x: Double, y: Double)])] = []
        if !real.isEmpty { series.append(("real attacks vs bona fide photos", curve(real, bona))) }
        if !made.isEmpty { series.append(("made-up attacks vs bona fide photos", curve(made, bona))) }
        if !tracks.isEmpty, !attacks.isEmpty { series.append(("all attacks vs bona fide video tracks", curve(attacks, tracks))) }
        let plot = Plot(title: "PAD DET: APCER against BPCER (threshold in force \(String(format: "%.2f", threshold)))",
                        xLabel: "BPCER (log10; -3 means none)", yLabel: "APCER (log10; -3 means none)", series: series, xRange: (-3, 0), yRange: (-3, 0))
        try plot.svg().write(toFile: "\(dir)/pad-det.svg", atomically: true, encoding: .utf8)
        if let raster = try? PlotRaster() { try Data(raster.png(plot)).write(to: URL(fileURLWithPath: "\(dir)/pad-det.png")) }
    }
}
