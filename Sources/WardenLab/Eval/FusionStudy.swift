import CommandSupport
import FaceKit
import WardenCLI
import Foundation
import Matching
import MatchingLab
import WardenCore

/// dlib's model, the second model and their fusion, measured on the same faces, in two
/// folds: the fusion's normalisation is fitted on a seeded half of the identities and every
/// figure (each model's too) is scored on the other half, then the halves swap and the scores
/// are pooled. So the fused score is judged only on people its constants never saw, and the
/// three columns on the same pairs (within each half: pairs across the halves are not used).
struct FusionStudy {
    struct Column: Codable {
        let name: String
        let eer: Double?; let eerThreshold: Double?
        let fnmrAtFMR: [String: Double?]
        let rank1: Double
        let fnirAtFPIR: [String: Double?]
        /// Projected FNIR at FPIR 0.003 for galleries of 1,000 and 10,000 people (see
        /// `projectedGallerySizes`).
        var projectedFNIR: [String: Double] = [:]
    }

    /// The method: a normal fitted to the column's impostor scores stands for the tail no
    /// dataset this size reaches; at N people a stranger is falsely matched with
    /// probability 1 - (1 - f)^N, so holding FPIR 0.003 needs f = 1 - 0.997^(1/N), whose
    /// normal quantile is the threshold; FNIR is the share of genuine comparisons above it
    /// (one template per person, rank errors ignored). The measured impostor tail is heavier
    /// than the normal one (docs/matching.md), so these err optimistic.
    static let projectedGallerySizes = [1_000, 10_000]
    static let projectionFPIR = 3e-3

    /// FNIR at `fpir` with `people` enrolled, projected as the comment above says; nil with
    /// fewer than two impostor scores.
    static func projectedFNIR(_ scores: VerificationScores, people: Int, fpir: Double) -> Double? {
        guard let normal = ScoreFusion.impostorModel(of: scores.impostor, source: "normal fit") else { return nil }
        let perComparison = -expm1(log1p(-fpir) / Double(people))
        return scores.fnmr(at: normal.threshold(forFalseMatchRate: perComparison))
    }
    struct Report: Codable {
        let firstModel: String; let secondModel: String
        /// Identities in the study, split in two halves for two-fold fitting.
        let identities: Int
        /// Images with a face in both models / failures of each model alone.
        let images: Int; let firstFailures: Int; let secondFailures: Int
        let genuinePairs: Int; let impostorPairs: Int; let matedSearches: Int; let nonMatedSearches: Int
        /// The fusion fitted on every identity, as `warden calibrate` would fit it.
        let fittedOnAll: FusedMatching
        let columns: [Column]
    }

    static let fmrTargets = [1e-3, 1e-4, 1e-5]
    static let fpirTargets = [1e-1, 1e-2, 3e-3]

    /// One face measured by both models.
    struct Item { let identity: String; let first: [Float]; let second: [Float] }

    /// The same image in both sets, matched by identity and the image's SHA-256.
    static func pairedItems(first: EmbeddingSet, second: EmbeddingSet) -> [Item] {
        var items: [Item] = []
        for name in first.identities {
            let secondByHash = Dictionary(zip(second.imageHashes[name] ?? [], second.byIdentity[name] ?? []), uniquingKeysWith: { a, _ in a })
            for (hash, v) in zip(first.imageHashes[name] ?? [], first.byIdentity[name] ?? []) {
                if let w = secondByHash[hash] { items.append(Item(identity: name, first: v, second: w)) }
            }
        }
        return items
    }

    static func run(first: EmbeddingSet, second: EmbeddingSet, firstID: String, secondID: String, seed: UInt64, maxImpostorPairs: Int) throws -> Report {
        let items = pairedItems(first: first, second: second)
        let names = Array(Set(items.map(\.identity))).sorted()
        guard names.count >= 8 else { throw CLIError("the fusion study needs at least 8 identities with faces both models embed; found \(names.count)") }
        var rng = SplitMix64(seed: seed)
        let shuffled = names.shuffled(using: &rng)
        let halves = [Set(shuffled.prefix(names.count / 2)), Set(shuffled.dropFirst(names.count / 2))]

        let d1: (Item, Item) -> Double = { DistanceMetric.euclidean.distance($0.first, $1.first) }
        let d2: (Item, Item) -> Double = { DistanceMetric.euclidean.distance($0.second, $1.second) }
        func impostors(_ set: [Item], _ d: (Item, Item) -> Double) -> [Double] {
            var out: [Double] = []
            for i in set.indices { for j in (i + 1)..<set.count where set[i].identity != set[j].identity { out.append(d(set[i], set[j])) } }
            return out
        }

        // Two folds: the normalisation is fitted on one half and scored on the other, then
        // the other way round; each column pools both folds' scores.
        var genuine = [[Double]](repeating: [], count: 3), impostor = [[Double]](repeating: [], count: 3)
        var mated = [[(rank: Int, distance: Double)?]](repeating: [], count: 3), nonMated = [[Double]](repeating: [], count: 3)
        for (fold, fitNames) in halves.enumerated() {
            let fit = items.filter { fitNames.contains($0.identity) }, test = items.filter { !fitNames.contains($0.identity) }
            let fusion = try fitFusion(fit, firstID: firstID, secondID: secondID, source: "fusion study, fold \(fold + 1)").fusion
            let fused: (Item, Item) -> Double = { a, b in fusion.score([firstID: d1(a, b), secondID: d2(a, b)])! }

            // Open-set identification: every fourth identity (seeded) left out, the others
            // enroll their first image.
            let testNames = Array(Set(test.map(\.identity))).sorted().shuffled(using: &rng)
            let leftOut = Set(testNames.enumerated().filter { $0.offset % 4 == 3 }.map(\.element))
            var galleryItems: [String: Item] = [:]
            var probes: [Item] = []
            for it in test {
                if !leftOut.contains(it.identity) && galleryItems[it.identity] == nil { galleryItems[it.identity] = it } else { probes.append(it) }
            }
            let gallery = galleryItems.sorted { $0.key < $1.key }
            for (c, d) in [d1, d2, fused].enumerated() {
                for i in test.indices {
                    for j in (i + 1)..<test.count {
                        let x = d(test[i], test[j])
                        if test[i].identity == test[j].identity { genuine[c].append(x) } else { impostor[c].append(x) }
                    }
                }
                for p in probes {
                    let ranked = gallery.map { (name: $0.key, score: d(p, $0.value)) }.sorted { $0.score < $1.score }
                    if leftOut.contains(p.identity) {
                        if let best = ranked.first { nonMated[c].append(best.score) }
                    } else {
                        mated[c].append(ranked.firstIndex { $0.name == p.identity }.map { (rank: $0 + 1, distance: ranked[$0].score) })
                    }
                }
            }
        }

        var columns: [Column] = []
        for (c, name) in [firstID, secondID, "fused"].enumerated() {
            var imp = impostor[c]
            if imp.count > maxImpostorPairs { var r = SplitMix64(seed: seed); imp.shuffle(using: &r); imp = Array(imp.prefix(maxImpostorPairs)) }
            let scores = VerificationScores(genuine: genuine[c], impostor: imp)
            let ident = IdentificationScores(mated: mated[c], nonMatedBest: nonMated[c])
            let eer = scores.equalErrorRate()
            var fnmr: [String: Double?] = [:]
            for t in fmrTargets where scores.supports(fmr: t) { fnmr[String(format: "%.0e", t)] = scores.threshold(forFMR: t)?.fnmr }
            var fnir: [String: Double?] = [:]
            for t in fpirTargets where Double(nonMated[c].count) >= 3 / t { fnir[String(format: "%.0e", t)] = ident.fnir(atFPIR: t)?.fnir }
            var column = Column(name: name, eer: eer?.rate, eerThreshold: eer?.threshold, fnmrAtFMR: fnmr, rank1: ident.rankAccuracy(1), fnirAtFPIR: fnir)
            for n in projectedGallerySizes {
                column.projectedFNIR[String(n)] = Self.projectedFNIR(scores, people: n, fpir: projectionFPIR)
            }
            columns.append(column)
        }
        return Report(firstModel: firstID, secondModel: secondID, identities: names.count,
                      images: items.count, firstFailures: first.failures.count, secondFailures: second.failures.count,
                      genuinePairs: genuine[0].count, impostorPairs: min(impostor[0].count, maxImpostorPairs), matedSearches: mated[0].count,
                      nonMatedSearches: nonMated[0].count, fittedOnAll: try fitFusion(items, firstID: firstID, secondID: secondID, source: "all \(items.count) images"),
                      columns: columns)
    }

    /// Each model's impostor distribution and the fused score's, fitted on `items`.
    static func fitFusion(_ items: [Item], firstID: String, secondID: String, source: String) throws -> FusedMatching {
        func impostors(_ d: (Item, Item) -> Double) -> [Double] {
            var out: [Double] = []
            for i in items.indices { for j in (i + 1)..<items.count where items[i].identity != items[j].identity { out.append(d(items[i], items[j])) } }
            return out
        }
        let d1: (Item, Item) -> Double = { DistanceMetric.euclidean.distance($0.first, $1.first) }
        let d2: (Item, Item) -> Double = { DistanceMetric.euclidean.distance($0.second, $1.second) }
        guard let m1 = ScoreFusion.impostorModel(of: impostors(d1), source: source), let m2 = ScoreFusion.impostorModel(of: impostors(d2), source: source) else {
            throw CLIError("too few impostor pairs to fit the fusion")
        }
        let fusion = ScoreFusion(models: [firstID: m1, secondID: m2])
        guard let fused = ScoreFusion.impostorModel(of: impostors { fusion.score([firstID: d1($0, $1), secondID: d2($0, $1)])! }, source: source) else {
            throw CLIError("too few impostor pairs to fit the fusion")
        }
        return FusedMatching(fusion: fusion, fusedImpostors: fused)
    }

    static func render(_ r: Report) -> String {
        func pct(_ x: Double??) -> String { (x ?? nil).map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        func row(_ label: String, _ cells: [String]) -> String {
            label.padding(toLength: 24, withPad: " ", startingAt: 0) + cells.map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined()
        }
        var lines = ["\nTwo models and their fusion, \(r.identities) identities in two folds (the fusion fitted on one half, scored on the other, and back)",
                     "  \(r.images) images with a face both models embed (failures: \(r.firstModel) \(r.firstFailures), \(r.secondModel) \(r.secondFailures))",
                     "  \(r.genuinePairs) genuine and \(r.impostorPairs) impostor pairs; \(r.matedSearches) mated and \(r.nonMatedSearches) non-mated searches", "",
                     row("", r.columns.map { $0.name == r.firstModel ? "dlib" : $0.name == r.secondModel ? "SFace" : $0.name })]
        lines.append(row("EER", r.columns.map { pct($0.eer) }))
        for t in fmrTargets {
            let k = String(format: "%.0e", t)
            lines.append(row("FNMR at FMR \(k)", r.columns.map { $0.fnmrAtFMR[k].map { pct($0) } ?? "unsupported" }))
        }
        lines.append(row("rank-1", r.columns.map { pct($0.rank1) }))
        for t in fpirTargets {
            let k = String(format: "%.0e", t)
            lines.append(row("FNIR at FPIR \(k)", r.columns.map { $0.fnirAtFPIR[k].map { pct($0) } ?? "unsupported" }))
        }
        for n in projectedGallerySizes {
            lines.append(row("FNIR 3e-3, \(n / 1000)k people*", r.columns.map { $0.projectedFNIR[String(n)].map { pct($0) } ?? "-" }))
        }
        lines.append("  * FNIR at FPIR 3e-3 with that many people enrolled, projected from a normal fit of the impostor scores")
        lines.append("    (one template each, rank errors ignored; the measured tail is heavier than the normal one, so these err optimistic)")
        return lines.joined(separator: "\n")
    }
}
