import ArgumentParser
import Crypto
import FaceKit
import Foundation
import Matching
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

        --plot DIR writes ROC, DET and distance-histogram SVGs.

        Examples:
          warden eval ../shared/faces
          warden eval ../shared/faces --max-per-identity 10 --plot /tmp/eval --json
        """
    )

    @OptionGroup var global: GlobalOptions
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
        let configuredThreshold: Double; let fmrAtConfigured: Double; let fnmrAtConfigured: Double
        let galleryPeople: Int; let matedSearches: Int; let nonMatedSearches: Int
        let rank1: Double; let rank10: Double
        let fnirAtFPIR: [String: Double?]
        let modelID: String
    }

    func run() throws {
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }
        let data = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: cropped,
                                         engine: engine, cache: global.wardenHome.path + "/cache", progress: !global.json)
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
        let configured = try global.thresholds().verify

        // Open-set identification.
        var rng = SplitMix64(seed: seed)
        let names = people.keys.sorted().shuffled(using: &rng)
        let leftOut = Set(names.enumerated().filter { $0.offset % 4 == 3 }.map(\.element))
        var gallery = Gallery()
        var ids: [String: Int64] = [:]
        for (i, name) in names.enumerated() where !leftOut.contains(name) {
            ids[name] = Int64(i + 1)
            try gallery.add(templateID: Int64(i + 1), personID: Int64(i + 1), unitVector: people[name]![0])
        }
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
                            atFMR: points, configuredThreshold: configured, fmrAtConfigured: scores.fmr(at: configured),
                            fnmrAtConfigured: scores.fnmr(at: configured), galleryPeople: gallery.personCount, matedSearches: mated.count,
                            nonMatedSearches: nonMated.count, rank1: ident.rankAccuracy(1), rank10: ident.rankAccuracy(10),
                            fnirAtFPIR: fnirAt, modelID: engine.modelID)
        if let plot { try EvalPlots.write(scores: scores, identification: ident, to: plot) }
        if global.json { try Output.json(report); return }
        print(render(report))
        if let plot { print("\nplots: \(plot)/roc.svg, det.svg, histogram.svg") }
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
        lines.append("  at the configured threshold \(Output.fixed(r.configuredThreshold, 3)): FMR \(pct(r.fmrAtConfigured)), FNMR \(pct(r.fnmrAtConfigured))")
        lines.append("\nIdentification (1:N, open set): gallery of \(r.galleryPeople), \(r.matedSearches) mated and \(r.nonMatedSearches) non-mated searches")
        lines.append("  rank-1 \(pct(r.rank1)), rank-10 \(pct(r.rank10))")
        for (k, v) in r.fnirAtFPIR.sorted(by: { $0.key > $1.key }) { lines.append("  FNIR at FPIR \(k): \(pct(v ?? nil))") }
        return lines.joined(separator: "\n")
    }
}

/// Unit embeddings per identity, from a dataset folder, with a cache.
struct EmbeddingSet {
    var byIdentity: [String: [[Float]]] = [:]
    var images = 0
    var failures: [String] = []

    /// Every genuine pair, and every impostor pair or a seeded sample of them.
    func verificationScores(maxImpostorPairs: Int, seed: UInt64) -> VerificationScores {
        var genuine: [Double] = [], impostor: [Double] = []
        let flat = byIdentity.sorted { $0.key < $1.key }.flatMap { p in p.value.map { (p.key, $0) } }
        for i in flat.indices {
            for j in (i + 1)..<flat.count {
                let d = DistanceMetric.euclidean.distance(flat[i].1, flat[j].1)
                if flat[i].0 == flat[j].0 { genuine.append(d) } else { impostor.append(d) }
            }
        }
        if impostor.count > maxImpostorPairs {
            var rng = SplitMix64(seed: seed)
            impostor.shuffle(using: &rng)
            impostor = Array(impostor.prefix(maxImpostorPairs))
        }
        return VerificationScores(genuine: genuine, impostor: impostor)
    }

    static func load(dataset: String, maxPerIdentity: Int, exclude: [String], cropped: Bool, engine: FaceEngine, cache: String, progress: Bool) throws -> EmbeddingSet {
        let fm = FileManager.default
        guard let identities = try? FaceDataset(root: URL(fileURLWithPath: dataset)).identities(skipping: { name in exclude.contains { name.contains($0) } }) else {
            throw CLIError("cannot read the dataset folder \(dataset)")
        }
        try fm.createDirectory(atPath: cache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let cacheFile = URL(fileURLWithPath: cache).appendingPathComponent("embeddings-\(engine.modelID).json")
        var cached = (try? JSONDecoder().decode([String: [Float]].self, from: Data(contentsOf: cacheFile))) ?? [:]
        var out = EmbeddingSet()
        var done = 0
        for identity in identities {
            let name = identity.name
            for url in identity.images.prefix(maxPerIdentity) {
                out.images += 1
                let path = url.path
                guard let bytes = fm.contents(atPath: path) else { out.failures.append(path); continue }
                let key = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() + (cropped ? ":crop" : "")
                if let v = cached[key] {
                    if !v.isEmpty { out.byIdentity[name, default: []].append(v) } else { out.failures.append(path) }
                    continue
                }
                var vector: [Float] = []
                if let image = try? RGBImage(decoding: Array(bytes), limits: ImageLimits(strict: false)) {
                    if cropped {
                        let box = FaceBox(left: 0, top: 0, right: image.width - 1, bottom: image.height - 1)
                        if let f = try? engine.landmarks(image, box: box), let e = try? engine.embed(image, face: f) { vector = e.values }
                    } else if let faces = try? engine.detect(image, options: DetectionOptions(upsample: 1)), faces.count == 1,
                              let e = try? engine.embed(image, face: faces[0]) {
                        vector = e.values
                    }
                }
                cached[key] = vector
                if vector.isEmpty { out.failures.append(path) } else { out.byIdentity[name, default: []].append(vector) }
                done += 1
                if progress && done % 20 == 0 { FileHandle.standardError.write(Data("eval: embedded \(done) new images\n".utf8)) }
            }
        }
        if done > 0 { try? JSONEncoder().encode(cached).write(to: cacheFile) }
        return out
    }
}

