import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import FaceKit
import Foundation
import PresentationAttack

/// Measures the planar-motion cue: does an affine fit of the five landmarks between two
/// frames separate a live head from a flat one?
struct PadMotion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "motion",
        abstract: "Measure the planar-motion cue on bona fide clips against flat sheets (made up from stills).",
        discussion: """
        For every pair of frames up to --gap apart whose face moved more than a similarity \
        can explain (the nose against the eyes, in inter-eye distances), reports the RMS \
        misfit of the best affine map between their five landmarks, for bona fide clips and \
        for made-up flat sheets (each still of --stills tilted back and forth). A cue that \
        works shows larger misfits for live heads at the same amount of motion. Needs no \
        PAD model.

        Example:
          warden pad motion --bona-fide-video ../shared/pad/short_hamilton_clip.mp4 --stills ../shared/faces --made-up 36
        """
    )
    @OptionGroup var global: ModelCommandOptions
    @Option(help: "A bona fide clip (repeatable).") var bonaFideVideo: [String] = []
    @Option(help: "Identity folders whose first photos become flat sheets.") var stills: String?
    @Option(help: "How many stills.") var madeUp = 36
    @Option(help: "Frames per made-up sequence.") var frames = 12
    @Option(help: "The largest frame gap compared.") var gap = 5
    @Option(help: "The map fitted: affine or homography.") var fit = "affine"

    struct Bin: Codable { let motionFrom: Double; let motionTo: Double; let bonaFidePairs: Int; let flatPairs: Int
        let bonaFideMedian: Double?; let flatMedian: Double?; let flatP95: Double?; let bonaFideAboveFlatP95: Double? }

    func run() throws {
        let engine = try global.loadEngine()
        func landmarks(_ images: [RGBImage]) -> [FaceLandmarks?] {
            images.map { img in (try? engine.detect(img, options: DetectionOptions(upsample: 1)))?.largest?.landmarks }
        }
        func pairs(_ seq: [FaceLandmarks?]) -> [(motion: Double, residual: Double)] {
            var out: [(Double, Double)] = []
            for i in seq.indices { for g in 1...gap where i + g < seq.count {
                guard let a = seq[i], let b = seq[i + g],
                      let r = fit == "homography" ? PlanarMotion.homographyResidual(a, b) : PlanarMotion.residual(a, b) else { continue }
                out.append((PlanarMotion.motion(a, b), r))
            } }
            return out
        }
        var live: [(motion: Double, residual: Double)] = [], flat: [(motion: Double, residual: Double)] = []
        for clip in bonaFideVideo { live += pairs(landmarks(try PadEval.clipFrames(clip))) }
        if let stills {
            let ids = try FaceDataset(root: URL(fileURLWithPath: stills)).identities().prefix(madeUp)
            for (i, id) in ids.enumerated() {
                guard let u = id.images.first, let img = try? RGBImage(contentsOf: u.path) else { continue }
                let seq = (0..<frames).map { k in MadeUpAttack.flatSheet.make(from: img, seed: UInt64(i + 1), phase: Double(k) * 2 * .pi / Double(frames)) }
                flat += pairs(landmarks(seq))
            }
        }
        let edges = [0.0, 0.02, 0.05, 0.1, 0.2, 10]
        func q(_ v: [Double], _ p: Double) -> Double? { v.isEmpty ? nil : v.sorted()[min(v.count - 1, Int(p * Double(v.count - 1) + 0.5))] }
        let bins = zip(edges, edges.dropFirst()).map { lo, hi -> Bin in
            let l = live.filter { $0.motion >= lo && $0.motion < hi }.map(\.residual), f = flat.filter { $0.motion >= lo && $0.motion < hi }.map(\.residual)
            let p95 = q(f, 0.95)
            return Bin(motionFrom: lo, motionTo: hi, bonaFidePairs: l.count, flatPairs: f.count, bonaFideMedian: q(l, 0.5), flatMedian: q(f, 0.5), flatP95: p95,
                       bonaFideAboveFlatP95: p95.map { t in l.isEmpty ? 0 : Double(l.filter { $0 > t }.count) / Double(l.count) })
        }
        if global.json { try Output.json(bins); return }
        print("\(fit) misfit of the five landmarks between frames (RMS, inter-eye distances), by how far the face moved:")
        func f(_ v: Double?) -> String { v.map { Output.fixed($0, 4) } ?? "-" }
        for b in bins {
            print("  motion \(Output.fixed(b.motionFrom, 2))-\(b.motionTo > 5 ? "up" : Output.fixed(b.motionTo, 2)): bona fide \(b.bonaFidePairs) pairs, median \(f(b.bonaFideMedian)); flat [MADE UP] \(b.flatPairs) pairs, median \(f(b.flatMedian)), 95th percentile \(f(b.flatP95)); bona fide above that: \(b.bonaFideAboveFlatP95.map { Output.fixed(100 * $0, 1) + "%" } ?? "-")")
        }
    }
}
