import Foundation
import Matching

/// Accuracy measured the way NIST's FRVT/FRTE reports do, on distances (lower = more
/// alike; a comparison matches when its distance is at most the threshold).
///
/// Verification (1:1): genuine pairs (same person) and impostor pairs (different people).
///   FMR(t)  = share of impostor distances <= t   (false match rate)
///   FNMR(t) = share of genuine distances  >  t   (false non-match rate)
public struct VerificationScores: Sendable {
    public let genuine: [Double]
    public let impostor: [Double]

    public init(genuine: [Double], impostor: [Double]) {
        self.genuine = genuine.sorted()
        self.impostor = impostor.sorted()
    }

    public func fmr(at t: Double) -> Double { Self.shareAtMost(impostor, t) }
    public func fnmr(at t: Double) -> Double {
        genuine.isEmpty ? 0 : Double(genuine.count - Self.countAtMost(genuine, t)) / Double(genuine.count)
    }

    /// One point of the ROC/DET curve.
    public struct Point: Sendable, Codable, Equatable {
        public let threshold: Double
        public let fmr: Double
        public let fnmr: Double
    }

    /// Every threshold where either rate changes (each distinct distance), ascending.
    public func curve() -> [Point] {
        let ts = Array(Set(genuine + impostor)).sorted()
        return ts.map { Point(threshold: $0, fmr: fmr(at: $0), fnmr: fnmr(at: $0)) }
    }

    /// The equal error rate: where FMR and FNMR cross, interpolated between the two
    /// thresholds that bracket the crossing.
    public func equalErrorRate() -> (rate: Double, threshold: Double)? {
        let c = curve()
        guard !c.isEmpty, !genuine.isEmpty, !impostor.isEmpty else { return nil }
        // FMR rises and FNMR falls with the threshold; find the first point where FMR >= FNMR.
        guard let i = c.firstIndex(where: { $0.fmr >= $0.fnmr }) else { return (c.last!.fnmr, c.last!.threshold) }
        if i == 0 { return ((c[0].fmr + c[0].fnmr) / 2, c[0].threshold) }
        let a = c[i - 1], b = c[i]
        let da = a.fnmr - a.fmr, db = b.fnmr - b.fmr          // da > 0 >= db
        let w = da / (da - db)
        return (a.fmr + w * (b.fmr - a.fmr), a.threshold + w * (b.threshold - a.threshold))
    }

    /// The largest threshold whose FMR does not exceed `target`, and the FNMR there; nil
    /// when no threshold meets it (even the smallest distance is shared by impostors).
    public func threshold(forFMR target: Double) -> (threshold: Double, fmr: Double, fnmr: Double)? {
        // Candidates: just below each impostor distance, and the largest genuine distance.
        var best: (Double, Double, Double)? = nil
        for p in curve() where p.fmr <= target { best = (p.threshold, p.fmr, p.fnmr) }
        if best == nil, let lowestImpostor = impostor.first, let g = genuine.first, g < lowestImpostor {
            best = (g, 0, fnmr(at: g))
        }
        return best.map { ($0.0, $0.1, $0.2) }
    }

    /// Whether `impostor.count` pairs can support a claim about this FMR: at least
    /// `3 / target` pairs (the "rule of 3": with none observed, the 95% upper bound on
    /// the rate is 3/n).
    public func supports(fmr target: Double) -> Bool { Double(impostor.count) >= 3 / target }

    static func countAtMost(_ sorted: [Double], _ t: Double) -> Int {
        var lo = 0, hi = sorted.count
        while lo < hi { let m = (lo + hi) / 2; if sorted[m] <= t { lo = m + 1 } else { hi = m } }
        return lo
    }

    static func shareAtMost(_ sorted: [Double], _ t: Double) -> Double {
        sorted.isEmpty ? 0 : Double(countAtMost(sorted, t)) / Double(sorted.count)
    }
}

/// A 95% Wilson score interval for a proportion of `k` in `n`.
public func wilsonInterval(_ k: Int, _ n: Int, z: Double = 1.959964) -> (low: Double, high: Double) {
    guard n > 0 else { return (0, 1) }
    let p = Double(k) / Double(n), nn = Double(n)
    let centre = (p + z * z / (2 * nn)) / (1 + z * z / nn)
    let half = z * ((p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot()) / (1 + z * z / nn)
    return (max(0, centre - half), min(1, centre + half))
}

/// Open-set identification (1:N), as NIST reports it. Each mated search has its mate in
/// the gallery; each non-mated search does not.
public struct IdentificationScores: Sendable {
    /// Per mated search: the rank of the mate (1 = nearest) and its distance; nil when
    /// the mate was not returned at all.
    public let mated: [(rank: Int, distance: Double)?]
    /// Per non-mated search: the distance of the nearest (wrong) candidate.
    public let nonMatedBest: [Double]

    public init(mated: [(rank: Int, distance: Double)?], nonMatedBest: [Double]) {
        self.mated = mated
        self.nonMatedBest = nonMatedBest.sorted()
    }

    /// Closed-set rank-k accuracy: share of mated searches with the mate in the top k.
    public func rankAccuracy(_ k: Int) -> Double {
        guard !mated.isEmpty else { return 0 }
        return Double(mated.filter { ($0?.rank ?? .max) <= k }.count) / Double(mated.count)
    }

    /// FPIR(t): share of non-mated searches that return anyone within t.
    public func fpir(at t: Double) -> Double { VerificationScores.shareAtMost(nonMatedBest, t) }

    /// FNIR(t): share of mated searches whose mate is not at rank 1 within t.
    public func fnir(at t: Double) -> Double {
        guard !mated.isEmpty else { return 0 }
        return Double(mated.filter { m in !(m.map { $0.rank == 1 && $0.distance <= t } ?? false) }.count) / Double(mated.count)
    }

    /// The largest threshold with FPIR at most `target` (a threshold just below the
    /// smallest non-mated distance when that is what it takes), and FNIR there.
    public func fnir(atFPIR target: Double) -> (threshold: Double, fpir: Double, fnir: Double)? {
        let candidates = Array(Set(nonMatedBest + mated.compactMap { $0?.distance })).sorted()
        var best: (Double, Double, Double)? = nil
        for t in candidates where fpir(at: t) <= target { best = (t, fpir(at: t), fnir(at: t)) }
        return best
    }

    /// The largest threshold with FPIR at most `target` on the non-mated searches alone
    /// (just below the distance that would break it); nil when there are none.
    public func threshold(forFPIR target: Double) -> Double? {
        guard !nonMatedBest.isEmpty else { return nil }
        let allowed = Int((target * Double(nonMatedBest.count)).rounded(.down))
        guard allowed < nonMatedBest.count else { return nonMatedBest.max() }
        let sorted = nonMatedBest.sorted()
        return sorted[allowed].nextDown
    }

    /// The FNIR/FPIR trade-off at every distinct threshold, ascending.
    public func tradeoff() -> [(threshold: Double, fpir: Double, fnir: Double)] {
        Array(Set(nonMatedBest + mated.compactMap { $0?.distance })).sorted().map { ($0, fpir(at: $0), fnir(at: $0)) }
    }
}

/// Thresholds set from measured data rather than defaults: the 1:1 threshold that holds a
/// target FMR on a dataset's impostor pairs, and an impostor model fitted to the same
/// pairs, from which the gallery-size-aware 1:N threshold follows (MatchThresholds).
public struct Calibration: Sendable, Codable, Equatable {
    public var targetFMR: Double
    public var verify: Double
    /// FMR and FNMR measured at `verify` on the dataset.
    public var fmr: Double
    public var fnmr: Double
    public var impostorMean: Double
    public var impostorStandardDeviation: Double
    public var genuinePairs: Int
    public var impostorPairs: Int

    public enum Refusal: Error, CustomStringConvertible, Sendable, Equatable {
        case tooFewImpostorPairs(have: Int, need: Int, target: Double)
        case noThreshold(target: Double)
        case noGenuinePairs
        public var description: String {
            switch self {
            case .tooFewImpostorPairs(let have, let need, let target):
                return "\(have) impostor pairs cannot support FMR \(target): at least \(need) are needed (with none observed, the 95% upper bound on the rate is 3/pairs). Add identities or images, or calibrate to a looser target."
            case .noThreshold(let target):
                return "no threshold holds FMR \(target) on this data: some impostor pairs are closer than every genuine pair"
            case .noGenuinePairs:
                return "the dataset has no genuine pairs (each identity needs two or more usable images)"
            }
        }
    }

    /// Refuses when the data cannot support the target, rather than return a threshold
    /// whose FMR is a guess.
    public static func make(_ scores: VerificationScores, targetFMR: Double) throws(Refusal) -> Calibration {
        guard !scores.genuine.isEmpty else { throw .noGenuinePairs }
        let need = Int((3 / targetFMR).rounded(.up))
        guard scores.supports(fmr: targetFMR) else { throw .tooFewImpostorPairs(have: scores.impostor.count, need: need, target: targetFMR) }
        guard let p = scores.threshold(forFMR: targetFMR) else { throw .noThreshold(target: targetFMR) }
        let n = Double(scores.impostor.count)
        let mean = scores.impostor.reduce(0, +) / n
        let sd = (scores.impostor.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / max(1, n - 1)).squareRoot()
        return Calibration(targetFMR: targetFMR, verify: p.threshold, fmr: p.fmr, fnmr: p.fnmr, impostorMean: mean,
                           impostorStandardDeviation: sd, genuinePairs: scores.genuine.count, impostorPairs: scores.impostor.count)
    }

    /// The thresholds in force after this calibration: `base` with the 1:1 threshold and
    /// the impostor model replaced (1:N follows from the model and the gallery size, and
    /// never exceeds the 1:1 threshold), and the ambiguity margin when one was calibrated.
    public func applied(to base: MatchThresholds, source: String, ambiguityMargin: Double? = nil) -> MatchThresholds {
        var t = base
        t.verify = verify
        t.identifyCeiling = verify
        t.impostors = ImpostorModel(mean: impostorMean, standardDeviation: impostorStandardDeviation, source: source)
        if let ambiguityMargin { t.ambiguityMargin = ambiguityMargin }
        return t
    }

    /// The largest 1:N ambiguity margin that turns away at most `cost` of correct
    /// identifications. `correctGaps` are, for searches whose nearest person is the right
    /// one, how much further the next person was. A margin m refuses the gaps below m, so
    /// the answer is the gap at rank floor(cost·n) (0 when there are none).
    public static func ambiguityMargin(correctGaps: [Double], cost: Double) -> Double {
        let gaps = correctGaps.sorted()
        guard !gaps.isEmpty else { return 0 }
        return max(0, gaps[min(gaps.count - 1, Int((cost * Double(gaps.count)).rounded(.down)))])
    }
}
