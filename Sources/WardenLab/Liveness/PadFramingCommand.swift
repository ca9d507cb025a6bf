import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import FaceKit
import Foundation
import Matching
import PresentationAttack

/// Measures how Warden's HOG box relates to the RetinaFace box the MiniFASNet pair was
/// trained on, and what each framing does to the bona fide error rate.
struct PadFramingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "framing",
        abstract: "Measure the framing: HOG box against upstream's RetinaFace box, and BPCER under each.",
        discussion: """
        Every photo of DATASET (one folder per identity; all bona fide captures) is detected \
        by both detectors. Where both find the same single face, it reports the RetinaFace box \
        relative to the HOG box (centre offset and size in HOG widths: medians and quartiles), \
        then the share of photos called attacks with each framing: RetinaFace's own box \
        (upstream's pipeline), the raw HOG box, and the HOG box mapped to RetinaFace's \
        framing (what Warden uses), at upstream's argmax rule and at the threshold in force.

        Needs the RetinaFace files as well as the pair (`warden pad models`).
        """
    )
    @OptionGroup var global: ModelCommandOptions
    @Argument(help: "Folder with one folder per identity.") var dataset: String
    @Option(help: "Use at most this many images per identity.") var maxPerIdentity = 50
    @Option(help: "Bona fide threshold (default: the one in force).") var threshold: Double?

    struct Spread: Codable { let median: Double; let p25: Double; let p75: Double }
    struct Rates: Codable { let framing: String; let photos: Int; let attacksAtArgmax: Int; let attacksAtThreshold: Int; let bpcerArgmax: Double; let bpcerThreshold: Double }
    struct Report: Codable {
        let photos: Int; let bothFound: Int
        let centerX: Spread; let centerY: Spread; let width: Spread; let height: Spread
        let meanIoUMapped: Double; let meanIoURaw: Double
        let threshold: Double
        let rates: [Rates]
        let upstreamAll: Rates
        let framingInForce: PADFraming
    }

    func run() throws {
        let engine = try global.loadEngine()
        let pad = try global.loadLiveness()
        let dir: String
        do { dir = try global.padModelLocator.locate([.retinaFaceModel, .retinaFacePrototxt]) } catch { throw CLIError(error.description) }
        let retina = try RetinaFaceDetector(directory: dir)
        let t = threshold ?? LivenessRule.standard.threshold
        let ids = try FaceDataset(root: URL(fileURLWithPath: dataset)).identities()
        var rel: [(Double, Double, Double, Double)] = []
        var scores: [String: [Double]] = ["retinaface": [], "hog": [], "hog-mapped": []]
        var argmax: [String: Int] = ["retinaface": 0, "hog": 0, "hog-mapped": 0]
        var upstream: [LivenessScore] = []
        var iouMapped: [Double] = [], iouRaw: [Double] = []
        var photos = 0
        for id in ids {
            for url in id.images.prefix(maxPerIdentity) {
                guard let image = try? RGBImage(contentsOf: url.path) else { continue }
                photos += 1
                if !global.json && photos % 100 == 0 { Output.note("pad framing: \(photos) photos") }
                let r = try retina.detect(image)
                if let r { upstream.append(try pad.score(image, box: r.box)) }
                guard let r, let faces = try? engine.detect(image, options: DetectionOptions(upsample: 1)), faces.count == 1 else { continue }
                let h = PADBox(faces[0].box)
                guard h.iou(r.box) > 0.3 else { continue }
                rel.append(((r.box.centerX - h.centerX) / h.width, (r.box.centerY - h.centerY) / h.width, r.box.width / h.width, r.box.height / h.width))
                let mapped = pad.framing.box(for: faces[0].box)
                iouMapped.append(mapped.iou(r.box)); iouRaw.append(h.iou(r.box))
                for (name, box) in [("retinaface", r.box), ("hog", h), ("hog-mapped", mapped)] {
                    let s = try pad.score(image, box: box)
                    scores[name]!.append(s.bonaFide)
                    if !s.upstreamSaysLive { argmax[name]! += 1 }
                }
            }
        }
        guard !rel.isEmpty else { throw CLIError("no photo in \(dataset) had one face found by both detectors") }
        func spread(_ v: [Double]) -> Spread {
            let s = v.sorted(); func q(_ p: Double) -> Double { s[min(s.count - 1, Int(p * Double(s.count - 1) + 0.5))] }
            return Spread(median: q(0.5), p25: q(0.25), p75: q(0.75))
        }
        let rates = ["retinaface", "hog", "hog-mapped"].map { name -> Rates in
            let v = scores[name]!, below = v.filter { $0 < t }.count
            return Rates(framing: name, photos: v.count, attacksAtArgmax: argmax[name]!, attacksAtThreshold: below,
                         bpcerArgmax: Double(argmax[name]!) / Double(v.count), bpcerThreshold: Double(below) / Double(v.count))
        }
        let upAttacks = upstream.filter { !$0.upstreamSaysLive }.count, upBelow = upstream.filter { $0.bonaFide < t }.count
        let report = Report(photos: photos, bothFound: rel.count, centerX: spread(rel.map(\.0)), centerY: spread(rel.map(\.1)),
                            width: spread(rel.map(\.2)), height: spread(rel.map(\.3)),
                            meanIoUMapped: iouMapped.reduce(0, +) / Double(iouMapped.count), meanIoURaw: iouRaw.reduce(0, +) / Double(iouRaw.count),
                            threshold: t, rates: rates,
                            upstreamAll: Rates(framing: "upstream (RetinaFace on every photo it finds a face in)", photos: upstream.count, attacksAtArgmax: upAttacks,
                                               attacksAtThreshold: upBelow, bpcerArgmax: Double(upAttacks) / Double(max(1, upstream.count)),
                                               bpcerThreshold: Double(upBelow) / Double(max(1, upstream.count))),
                            framingInForce: pad.framing)
        if global.json { try Output.json(report); return }
        func f(_ s: Spread) -> String { "\(Output.fixed(s.median)) (quartiles \(Output.fixed(s.p25))-\(Output.fixed(s.p75)))" }
        print("""
        \(photos) photos; \(rel.count) with one face found by both detectors
        RetinaFace box relative to the HOG box, in HOG widths:
          centre x offset \(f(report.centerX))
          centre y offset \(f(report.centerY))
          width           \(f(report.width))
          height          \(f(report.height))
        framing in force: centre (\(pad.framing.centerX), \(pad.framing.centerY)), size \(pad.framing.width) x \(pad.framing.height)
        IoU with the RetinaFace box: mapped \(Output.fixed(report.meanIoUMapped)), raw HOG \(Output.fixed(report.meanIoURaw))
        bona fide photos called attacks (BPCER):
        """)
        for r in rates + [report.upstreamAll] {
            print("  \(r.framing): \(r.attacksAtArgmax)/\(r.photos) = \(Output.fixed(100 * r.bpcerArgmax, 1))% at argmax; \(r.attacksAtThreshold)/\(r.photos) = \(Output.fixed(100 * r.bpcerThreshold, 1))% below threshold \(Output.fixed(t))")
        }
    }
}
