import CommandSupport
import WardenCLI
import ArgumentParser
import Crypto
import FaceKit
import Foundation
import Matching
import MatchingLab
import OpenCVFaces
import WardenCore

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure accuracy on a folder of labelled faces: ROC, EER, FNMR at FMR, rank-k, FPIR/FNIR.",
        discussion: """
        DATASET holds one folder per identity (as ../shared/faces does; folders starting \
        with _ are skipped). Every image is embedded once (cached under <home>/cache by \
        the image's SHA-256 and the model id); images without exactly one usable face \
        count toward the failure-to-extract rate.

        Verification (1:1) compares every genuine pair and every impostor pair (or a \
        seeded sample of --max-impostor-pairs) and reports the EER and the FNMR at FMR \
        1e-2, 1e-3 and 1e-4, with 95% Wilson intervals, and both rates at the configured \
        threshold. A rate the pair count cannot support (fewer than 3/FMR impostor \
        pairs) is marked as such rather than reported.

        Identification (1:N, open set): every fourth identity (by the seed) is left out \
        of the gallery; the others enroll their first image. Their other images are \
        mated searches; the left-out identities' images are non-mated. Reports rank-1 and \
        rank-10 accuracy and FNIR at FPIR 1e-1 and 1e-2.

        Vectors are compared in the matching space in force: through the configured \
        metric head, if any, or through --metric-head FILE. --compare base,learned puts \
        the raw embedding and a learned head side by side on the identities the head held \
        out of training and validation (recorded in the head file), so the comparison is \
        on people it has never seen.

        --plot DIR writes ROC, DET and distance-histogram plots as SVG and PNG (with \
        --compare, one set in DIR/base and one in DIR/learned).

        Examples:
          warden eval ../shared/faces
          warden eval ../shared/faces --max-per-identity 10 --plot /tmp/eval --json
          warden eval ../shared/faces --compare base,learned --metric-head heads/triplet.json
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Argument(help: "Folder with one folder per identity.") var dataset: String
    @Option(help: "Use at most this many images per identity.") var maxPerIdentity = 50
    @Option(help: "Skip identity folders whose name contains this (repeatable).") var exclude: [String] = []
    @Option(help: "Sample at most this many impostor pairs (seeded).") var maxImpostorPairs = 2_000_000
    @Option(help: "Seed for sampling and the gallery split.") var seed: UInt64 = 1
    @Flag(help: "Images are tight face crops: the whole image is the face.") var cropped = false
    @Option(help: "Write ROC, DET and histogram plots (SVG) into this folder.") var plot: String?

    struct RatePoint: Codable { let targetFMR: Double; let supported: Bool; let threshold: Double?; let fnmr: Double?; let fnmr95: [Double]? }
    struct Report: Codable {
        let identities: Int; let images: Int; let failedToExtract: Int; let failureToExtractRate: Double
        let genuinePairs: Int; let impostorPairs: Int
        let eer: Double?; let eerThreshold: Double?
        let atFMR: [RatePoint]
        /// The 1:1 threshold in force and both rates there (nil when evaluating another space).
        let configuredThreshold: Double?; let fmrAtConfigured: Double?; let fnmrAtConfigured: Double?
        let galleryPeople: Int; let matedSearches: Int; let nonMatedSearches: Int
        let rank1: Double; let rank10: Double
        let fnirAtFPIR: [String: Double?]
        let modelID: String
        /// dlib, the second model and their fusion on the same faces, when the second model
        /// is installed; otherwise why not.
        var fusion: FusionStudy.Report? = nil
        var secondModelProblem: String? = nil
    }

    /// Where SFace's five points come from.
    enum Alignment: String, ExpressibleByArgument, CaseIterable { case dlib68, yunet }
    @Option(help: ArgumentHelp("How the second model's faces are aligned: dlib68 (dlib's 68-point predictor, installed by make setup) or yunet (YuNet on the face's region; its file is copied by hand).",
                               valueName: "method")) var alignment: Alignment = .dlib68

    @Option(help: "Evaluate in the space of this learned metric head (`warden train-metric`).") var metricHead: String?
    @Option(help: ArgumentHelp("Compare spaces side by side, e.g. base,learned.",
                               discussion: "Needs --metric-head (or a configured head). Only the head's held-out test identities are used: never one it trained or stopped early on."))
    var compare: String?

    @Option(help: ArgumentHelp("Compare N templates per person (e.g. 1,3,5), chosen as a camera capture chooses them, at fixed probes.",
                               valueName: "counts")) var templates: String?
    @Option(help: "With --templates: also templates averaged over this many jittered chips (dlib's num_jitters).") var jitter = 0

    var templateCounts: [Int] { (templates ?? "").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        if templates != nil && (templateCounts.isEmpty || templateCounts.contains { !(1...10).contains($0) }) {
            throw ValidationError("--templates takes counts from 1 to 10, e.g. 1,3,5")
        }
        if jitter != 0 && (templates == nil || !(2...100).contains(jitter)) { throw ValidationError("--jitter takes 2 to 100, with --templates") }
        if let compare, Set(compare.split(separator: ",").map(String.init)) != ["base", "learned"] {
            throw ValidationError("--compare takes base,learned")
        }
    }

    func run() throws {
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }
        if templates != nil {
            let study = TemplateStudy(counts: templateCounts, jitter: jitter, seed: seed, thresholds: try global.thresholds())
            let report = try study.run(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, engine: engine, progress: !global.json)
            if global.json { try Output.json(report) } else { print(TemplateStudy.render(report)) }
            return
        }
        var data = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: cropped,
                                         engine: engine, cache: global.wardenHome.path + "/cache", progress: !global.json)
        // The space in force (the configured head, if any) unless --metric-head names
        // another; the configured 1:1 threshold only means something in the space in force.
        let configuredRef = try MatchingConfiguration.headReference(home: global.wardenHome)
        let named = try metricHead.map { try MetricHeadFile.load($0) }
        let head = try named?.head ?? global.metricHead()
        let inForce = named == nil || (configuredRef != nil && configuredRef?.sha256 == named?.sha256)
        if compare != nil {
            guard let head else { throw CLIError("--compare needs a learned head: give --metric-head FILE (from `warden train-metric`)") }
            let held = Set(head.metadata.testIdentities)
            let seen = Set(head.metadata.trainingIdentities + head.metadata.validationIdentities)
            data = data.only(held.subtracting(seen))
            guard data.byIdentity.count >= 2 else {
                throw CLIError("the head's held-out test identities (\(held.count)) are not in \(dataset): compare on the dataset it was trained from")
            }
            let base = try evaluate(data, modelID: engine.modelID, configured: nil)
            let learned = try evaluate(data.projected(through: head), modelID: engine.modelID + "+head:" + head.weightsDigest, configured: nil)
            if let plot {
                for (name, r) in [("base", base), ("learned", learned)] {
                    if let note = try EvalPlots.write(scores: r.scores, identification: r.identification, to: plot + "/" + name) { Output.note("eval: \(note)") }
                }
            }
            if global.json { try Output.json(["base": base.report, "learned": learned.report]); return }
            print(renderComparison(base.report, learned.report, head: head))
            return
        }
        if let head { data = data.projected(through: head) }
        let modelID = engine.modelID + (head.map { "+head:" + $0.weightsDigest } ?? "")
        let configured = inForce ? try global.thresholds().verify : nil
        var result = try evaluate(data, modelID: modelID, configured: configured)
        if let plot, let note = try EvalPlots.write(scores: result.scores, identification: result.identification, to: plot) { Output.note("eval: \(note)") }
        if head == nil { try studySecondModel(firstSet: data, firstID: engine.modelID, engine: engine, into: &result.report) }
        if global.json { try Output.json(result.report); return }
        print(render(result.report))
        if let f = result.report.fusion { print(FusionStudy.render(f)) }
        else if let why = result.report.secondModelProblem { print("\nsecond model: not measured: \(why)") }
        if let plot { print("\nplots: \(plot)/roc.svg, det.svg, histogram.svg (and .png)") }
    }

    /// The second model on the same faces, and the fusion, when its files are installed.
    private func studySecondModel(firstSet: EmbeddingSet, firstID: String, engine: FaceEngine, into report: inout Report) throws {
        let second: SFaceRecognizer
        do {
            let points: any FivePointFinder
            switch alignment {
            case .dlib68:
                do { points = try Dlib68Points(models: try global.modelLocator.locate(requiring: [.landmarks68])) } catch {
                    report.secondModelProblem = "\(error)"; return
                }
            case .yunet: points = try YuNetPoints(locator: global.recognitionModelLocator)
            }
            second = try SFaceRecognizer(locator: global.recognitionModelLocator, points: points)
        } catch {
            report.secondModelProblem = error.description
            return
        }
        let set = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: cropped, engine: engine,
                                        recognizer: second, cache: global.wardenHome.path + "/cache", progress: !global.json)
        do {
            report.fusion = try FusionStudy.run(first: firstSet, second: set, firstID: firstID, secondID: second.modelID, seed: seed,
                                                maxImpostorPairs: maxImpostorPairs)
        } catch {
            report.secondModelProblem = "\(error)"
        }
    }

    /// Every figure for one set of vectors. `configured`: the 1:1 threshold in force, when
    /// these vectors are in the space it applies to.
    private func evaluate(_ data: EmbeddingSet, modelID: String, configured: Double?) throws
        -> (report: Report, scores: VerificationScores, identification: IdentificationScores) {
        let people = data.byIdentity.filter { !$0.value.isEmpty }
        guard people.count >= 2 else { throw CLIError("need at least two identities with usable faces in \(dataset)") }

        let scores = data.verificationScores(maxImpostorPairs: maxImpostorPairs, seed: seed)
        let genuine = scores.genuine
        let eer = scores.equalErrorRate()
        let points = [1e-2, 1e-3, 1e-4].map { target -> RatePoint in
            guard scores.supports(fmr: target), let p = scores.threshold(forFMR: target) else {
                return RatePoint(targetFMR: target, supported: scores.supports(fmr: target), threshold: nil, fnmr: nil, fnmr95: nil)
            }
            let misses = Int((p.fnmr * Double(genuine.count)).rounded())
            let ci = wilsonInterval(misses, genuine.count)
            return RatePoint(targetFMR: target, supported: true, threshold: p.threshold, fnmr: p.fnmr, fnmr95: [ci.low, ci.high])
        }

        // Open-set identification.
        var rng = SplitMix64(seed: seed)
        let names = people.keys.sorted().shuffled(using: &rng)
        let leftOut = Set(names.enumerated().filter { $0.offset % 4 == 3 }.map(\.element))
        let enrolled = names.filter { !leftOut.contains($0) }
        let gallery = data.galleryOfFirstPhotos(enrolled)
        let ids = Dictionary(uniqueKeysWithValues: enrolled.enumerated().map { ($0.element, Int64($0.offset + 1)) })
        var mated: [(rank: Int, distance: Double)?] = []
        var nonMated: [Double] = []
        for name in names {
            let probes = leftOut.contains(name) ? people[name]! : Array(people[name]!.dropFirst())
            for v in probes {
                let found = gallery.search(v, k: 10)
                if let id = ids[name] {
                    mated.append(found.firstIndex { $0.personID == id }.map { (rank: $0 + 1, distance: found[$0].distance) })
                } else if let best = found.first {
                    nonMated.append(best.distance)
                }
            }
        }
        let ident = IdentificationScores(mated: mated, nonMatedBest: nonMated)
        var fnirAt: [String: Double?] = [:]
        for target in [1e-1, 1e-2] { fnirAt[String(format: "%.0e", target)] = ident.fnir(atFPIR: target)?.fnir }

        let report = Report(identities: people.count, images: data.images, failedToExtract: data.failures.count,
                            failureToExtractRate: Double(data.failures.count) / Double(max(1, data.images)),
                            genuinePairs: genuine.count, impostorPairs: scores.impostor.count, eer: eer?.rate, eerThreshold: eer?.threshold,
                            atFMR: points, configuredThreshold: configured, fmrAtConfigured: configured.map(scores.fmr(at:)),
                            fnmrAtConfigured: configured.map(scores.fnmr(at:)), galleryPeople: gallery.personCount, matedSearches: mated.count,
                            nonMatedSearches: nonMated.count, rank1: ident.rankAccuracy(1), rank10: ident.rankAccuracy(10),
                            fnirAtFPIR: fnirAt, modelID: modelID)
        return (report, scores, ident)
    }

    private func renderComparison(_ b: Report, _ l: Report, head: MetricHead) -> String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        func row(_ name: String, _ x: String, _ y: String) -> String {
            name.padding(toLength: 26, withPad: " ", startingAt: 0) + x.padding(toLength: 12, withPad: " ", startingAt: 0) + y
        }
        let m = head.metadata
        var lines = ["Comparison on \(b.identities) held-out identities (\(b.images) images) that the head never saw",
                     "head: \(head.kind.rawValue), \(m.loss) loss\(m.squaredHinge ? " (squared hinge)" : ""), margin \(m.margin), \(m.mining) mining, best epoch \(m.bestEpoch) of \(m.epochs)",
                     "", row("", "base", "learned")]
        lines.append(row("EER", pct(b.eer), pct(l.eer)))
        for (p, q) in zip(b.atFMR, l.atFMR) {
            let label = "FNMR at FMR \(String(format: "%.0e", p.targetFMR))"
            lines.append(p.supported ? row(label, pct(p.fnmr), pct(q.fnmr)) : row(label, "not supported (\(Int(3 / p.targetFMR)) impostor pairs needed)", ""))
        }
        lines.append(row("rank-1", pct(b.rank1), pct(l.rank1)))
        for (k, v) in b.fnirAtFPIR.sorted(by: { $0.key > $1.key }) { lines.append(row("FNIR at FPIR \(k)", pct(v ?? nil), pct(l.fnirAtFPIR[k] ?? nil))) }
        lines.append("\(b.genuinePairs) genuine and \(b.impostorPairs) impostor pairs; \(b.matedSearches) mated and \(b.nonMatedSearches) non-mated searches")
        return lines.joined(separator: "\n")
    }

    private func render(_ r: Report) -> String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        var lines = ["Evaluation of \(r.modelID) on \(r.identities) identities, \(r.images) images"]
        lines.append("  failure to extract: \(r.failedToExtract) (\(pct(r.failureToExtractRate)))")
        lines.append("\nVerification (1:1): \(r.genuinePairs) genuine pairs, \(r.impostorPairs) impostor pairs")
        lines.append("  EER \(pct(r.eer)) at distance \(r.eerThreshold.map { Output.fixed($0, 3) } ?? "-")")
        for p in r.atFMR {
            if !p.supported {
                lines.append("  FNMR at FMR \(String(format: "%.0e", p.targetFMR)): not supported (needs \(Int(3 / p.targetFMR)) impostor pairs)")
            } else {
                lines.append("  FNMR at FMR \(String(format: "%.0e", p.targetFMR)): \(pct(p.fnmr)) (95% \(pct(p.fnmr95?[0]))-\(pct(p.fnmr95?[1]))) at distance \(p.threshold.map { Output.fixed($0, 3) } ?? "-")")
            }
        }
        if let t = r.configuredThreshold {
            lines.append("  at the configured threshold \(Output.fixed(t, 3)): FMR \(pct(r.fmrAtConfigured)), FNMR \(pct(r.fnmrAtConfigured))")
        }
        lines.append("\nIdentification (1:N, open set): gallery of \(r.galleryPeople), \(r.matedSearches) mated and \(r.nonMatedSearches) non-mated searches")
        lines.append("  rank-1 \(pct(r.rank1)), rank-10 \(pct(r.rank10))")
        for (k, v) in r.fnirAtFPIR.sorted(by: { $0.key > $1.key }) { lines.append("  FNIR at FPIR \(k): \(pct(v ?? nil))") }
        return lines.joined(separator: "\n")
    }
}
