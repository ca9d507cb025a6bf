import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import FaceKit
import Foundation

struct BenchFaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Time decode, detect and per-face embed at 480p and 720p.",
        discussion: """
        Takes real photos (by default two from each identity in ../shared/faces, else the \
        fixtures), frames each as a 640x480 and a 1280x720 camera would (scaled to fit, \
        black borders), stores them as JPEG, and times each stage over every image. \
        With --peer-python it runs bench/peers/face_recognition_peer.py on the same JPEG files \
        and prints Warden's time as a fraction of the reference's (below 1 is faster).
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Folder of photos (one folder per identity, or flat). Default: ../shared/faces, else the fixtures.")
    var images: String?
    @Option(help: "How many photos to use.") var count = 24
    @Option(help: "Timed passes over the image set (after one warm-up pass).") var iterations = 3
    @Option(help: "Detector upsampling for both Warden and the peer.") var upsample = 1
    @Option(name: .customLong("peer-python"), help: "Python with face_recognition installed (bench/.venv/bin/python).")
    var peerPython: String?
    @Option(help: "Keep the generated JPEG frames in this folder.") var keep: String?

    struct StageStats: Codable {
        let decodeMs: SampleStats
        let detectMs: SampleStats
        let embedPerFaceMs: SampleStats
        let facesPerImage: Double
    }
    struct ResolutionResult: Codable {
        let resolution: String
        let images: Int
        let warden: StageStats
        let peer: StageStats?
        /// Warden median / peer median per stage: below 1 means Warden is faster.
        let medianRatio: [String: Double]?
        let peerEmbedWithoutLocationsMs: SampleStats?
    }
    struct Report: Codable {
        let results: [ResolutionResult]
        let wardenPeakRSSMiB: Double
        let peerPeakRSSMiB: Double?
        let upsample: Int
        let iterations: Int
        let build: String
    }

    func run() throws {
        let sources = try pickPhotos()
        guard !sources.isEmpty else { throw CLIError("no photos found; pass --images DIR or run `make setup`") }
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }

        let work = keep.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-\(getpid())")
        defer { if keep == nil { try? FileManager.default.removeItem(at: work) } }

        var results: [ResolutionResult] = []
        var peerRSS: Double? = nil
        for (w, h) in [(640, 480), (1280, 720)] {
            let dir = work.appendingPathComponent("\(w)x\(h)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var frames: [[UInt8]] = []
            for (i, src) in sources.enumerated() {
                let jpeg = try RGBImage(contentsOf: src, limits: ImageLimits(strict: false)).letterboxed(width: w, height: h).jpegData(quality: 90)
                try Data(jpeg).write(to: dir.appendingPathComponent(String(format: "frame%03d.jpg", i)))
                frames.append(jpeg)
            }
            if !global.json { log("\(w)x\(h): \(frames.count) frames, 1 warm-up + \(iterations) timed passes") }
            let warden = try measure(engine: engine, frames: frames)
            var peer: StageStats? = nil, ratio: [String: Double]? = nil, naive: SampleStats? = nil
            if let peerPython {
                let p = try runPeer(python: peerPython, dir: dir)
                peer = p.stats; naive = p.naive; peerRSS = max(peerRSS ?? 0, p.rss)
                ratio = ["decode": warden.decodeMs.median / p.stats.decodeMs.median,
                         "detect": warden.detectMs.median / p.stats.detectMs.median,
                         "embedPerFace": warden.embedPerFaceMs.median / p.stats.embedPerFaceMs.median]
            }
            results.append(ResolutionResult(resolution: "\(w)x\(h)", images: frames.count, warden: warden, peer: peer,
                                            medianRatio: ratio, peerEmbedWithoutLocationsMs: naive))
        }
        let report = Report(results: results, wardenPeakRSSMiB: peakRSSMiB(), peerPeakRSSMiB: peerRSS,
                            upsample: upsample, iterations: iterations,
                            build: ProcessInfo.processInfo.environment["WARDEN_NATIVE"] == "1" ? "native" : "portable")
        if global.json { try Output.json(report); return }
        print(render(report))
    }

    private func measure(engine: FaceEngine, frames: [[UInt8]]) throws -> StageStats {
        var decode: [Double] = [], detect: [Double] = [], embed: [Double] = []
        var faces = 0, images = 0
        let options = DetectionOptions(upsample: upsample)
        for pass in 0...iterations {
            for jpeg in frames {
                let (image, tDecode) = try milliseconds { try RGBImage(decoding: jpeg) }
                let (found, tDetect) = try milliseconds { try engine.detect(image, options: options) }
                if pass == 0 { continue }  // warm-up
                decode.append(tDecode); detect.append(tDetect); images += 1; faces += found.count
                if !found.isEmpty {
                    let (_, tEmbed) = try milliseconds { try engine.embed(image, faces: found) }
                    embed.append(tEmbed / Double(found.count))
                }
            }
        }
        return StageStats(decodeMs: SampleStats(decode), detectMs: SampleStats(detect), embedPerFaceMs: SampleStats(embed),
                          facesPerImage: Double(faces) / Double(max(1, images)))
    }

    private struct PeerOutput: Decodable {
        let decode_ms: [Double]
        let detect_ms: [Double]
        let embed_per_face_ms: [Double]
        let embed_without_locations_ms: [Double]
        let faces: Int
        let images: Int
        let peak_rss_mib: Double
    }

    private func runPeer(python: String, dir: URL) throws -> (stats: StageStats, naive: SampleStats, rss: Double) {
        let data = try runPeerScript(python: python, script: "bench/peers/face_recognition_peer.py",
                                     arguments: ["--dir", dir.path, "--iterations", String(iterations), "--upsample", String(upsample)])
        let p = try JSONDecoder().decode(PeerOutput.self, from: data)
        return (StageStats(decodeMs: SampleStats(p.decode_ms), detectMs: SampleStats(p.detect_ms),
                           embedPerFaceMs: SampleStats(p.embed_per_face_ms),
                           facesPerImage: Double(p.faces) / Double(max(1, p.images))),
                SampleStats(p.embed_without_locations_ms), p.peak_rss_mib)
    }

    private func pickPhotos() throws -> [String] {
        let shared = FaceDataset.shared
        let dataset = FaceDataset(root: images.map { URL(fileURLWithPath: $0) }
                                  ?? (FileManager.default.fileExists(atPath: shared.path) ? shared : Checkout.fixtures))
        let picked = try dataset.identities(skipping: { $0.hasPrefix("faces94") }).flatMap { $0.images.prefix(2) } + dataset.looseImages()
        return picked.prefix(count).map(\.path)
    }

    private func log(_ s: String) { Output.note("bench: \(s)") }

    private func render(_ r: Report) -> String {
        var lines = ["Face engine benchmark (\(r.build) build, upsample \(r.upsample), \(r.iterations) passes; ms, median / p95)"]
        for res in r.results {
            lines.append("\n\(res.resolution), \(res.images) images, \(Output.fixed(res.warden.facesPerImage, 2)) faces per image")
            lines.append("  stage            Warden              reference          ratio (Warden/ref)")
            func row(_ name: String, _ w: SampleStats, _ p: SampleStats?, _ key: String) {
                let ws = "\(Output.fixed(w.median, 1)) / \(Output.fixed(w.p95, 1))"
                let ps = p.map { "\(Output.fixed($0.median, 1)) / \(Output.fixed($0.p95, 1))" } ?? "-"
                let ratio = res.medianRatio?[key].map { Output.fixed($0, 2) } ?? "-"
                lines.append("  " + pad(name, 16) + pad(ws, 20) + pad(ps, 19) + ratio)
            }
            row("decode", res.warden.decodeMs, res.peer?.decodeMs, "decode")
            row("detect", res.warden.detectMs, res.peer?.detectMs, "detect")
            row("embed per face", res.warden.embedPerFaceMs, res.peer?.embedPerFaceMs, "embedPerFace")
            if let naive = res.peerEmbedWithoutLocationsMs {
                lines.append("  (reference face_encodings(image) without known locations re-detects: \(Output.fixed(naive.median, 1)) ms median per face)")
            }
        }
        lines.append("\npeak RSS: Warden \(Output.fixed(r.wardenPeakRSSMiB, 0)) MiB" + (r.peerPeakRSSMiB.map { ", reference \(Output.fixed($0, 0)) MiB" } ?? ""))
        return lines.joined(separator: "\n")
    }
}
