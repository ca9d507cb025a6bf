import Foundation

/// How impostor (different-person) distances are distributed, as a normal approximation
/// fitted to measured pairs. It turns a distance threshold into an expected false-match rate
/// and back. A normal tail is an approximation: `warden calibrate` (evaluation issue)
/// replaces these figures with an empirical fit on real data.
public struct ImpostorModel: Sendable, Equatable, Codable {
    /// Mean impostor distance (unit-vector Euclidean).
    public var mean: Double
    /// Standard deviation of impostor distances.
    public var standardDeviation: Double
    /// Where the figures came from.
    public var source: String

    public init(mean: Double, standardDeviation: Double, source: String) {
        self.mean = mean; self.standardDeviation = standardDeviation; self.source = source
    }

    /// Measured with dlib_face_recognition_resnet_model_v1 on ../shared/faces: all 16,233
    /// impostor pairs among 184 photos (up to 8 each) of its 26 celebrity identities
    /// (docs/matching.md). The empirical left tail is heavier than the normal one (observed
    /// FMR 1.1e-2 at 0.44 where the fit says 6.8e-3), so this errs lenient near 0.44.
    public static let dlibDefault = ImpostorModel(mean: 0.5915, standardDeviation: 0.0614,
                                                  source: "../shared/faces: 16233 impostor pairs, 26 identities, normal fit")

    /// Expected chance that one comparison with a different person falls at or under `t`.
    public func falseMatchRate(atThreshold t: Double) -> Double {
        NormalDistribution.cdf((t - mean) / standardDeviation)
    }

    /// The distance at which one comparison has false-match probability `fmr`.
    public func threshold(forFalseMatchRate fmr: Double) -> Double {
        mean + standardDeviation * NormalDistribution.quantile(min(max(fmr, 1e-300), 1 - 1e-12))
    }
}

/// The thresholds in force. Configuration, separately for 1:1 and 1:N.
public struct MatchThresholds: Sendable, Equatable, Codable {
    /// 1:1 verification: same person at or below this distance.
    public var verify: Double
    /// 1:N: the most the threshold may be, whatever the gallery size.
    public var identifyCeiling: Double
    /// 1:N: the false-positive identification rate to hold as the gallery grows: the chance
    /// that a person who is not enrolled is matched to someone.
    public var targetFPIR: Double
    /// 1:N: the next different person must be at least this much further than the best.
    public var ambiguityMargin: Double
    public var impostors: ImpostorModel

    public init(verify: Double = 0.41, identifyCeiling: Double = 0.41, targetFPIR: Double = 1e-3,
                ambiguityMargin: Double = 0.04, impostors: ImpostorModel = .dlibDefault) {
        self.verify = verify; self.identifyCeiling = identifyCeiling; self.targetFPIR = targetFPIR
        self.ambiguityMargin = ambiguityMargin; self.impostors = impostors
    }

    public static let `default` = MatchThresholds()

    /// The 1:N threshold for a gallery of `people` enrolled people.
    ///
    /// A probe from a stranger is compared with every enrolled person; if each comparison
    /// false-matches with probability f, the chance that at least one does is
    /// FPIR = 1 − (1 − f)^N ≈ N·f. Holding FPIR at the target therefore needs
    /// f = 1 − (1 − target)^(1/N), and the threshold is the impostor model's quantile at f,
    /// never above the ceiling. Twice the people, a stricter threshold.
    public func identifyThreshold(people: Int) -> Double {
        min(identifyCeiling, impostors.threshold(forFalseMatchRate: perComparisonFMR(people: people)))
    }

    /// The 1:1 threshold against a person who holds `templates` templates. The claimant is
    /// compared with each and the best counts, so a stranger has `templates` chances: the
    /// per-template false-match rate is lowered until the per-person rate is what
    /// `verify` gives with one template (docs/matching.md, "Several templates"). Never
    /// above `verify`.
    public func verifyThreshold(templates: Int) -> Double {
        guard templates > 1 else { return verify }
        let perPerson = impostors.falseMatchRate(atThreshold: verify)
        let perTemplate = -expm1(log1p(-perPerson) / Double(templates))
        return min(verify, impostors.threshold(forFalseMatchRate: perTemplate))
    }

    public func perComparisonFMR(people: Int) -> Double {
        let n = Double(max(1, people))
        // -expm1(log1p(-t)/n) is 1-(1-t)^(1/n) without cancellation for tiny t.
        return -expm1(log1p(-targetFPIR) / n)
    }

    /// The expected FPIR at a threshold for a gallery of `people`.
    public func expectedFPIR(threshold: Double, people: Int) -> Double {
        let f = impostors.falseMatchRate(atThreshold: threshold)
        return -expm1(Double(max(1, people)) * log1p(-f))
    }
}

enum NormalDistribution {
    static func cdf(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    /// Inverse CDF (Acklam's rational approximation, refined by one Halley step; relative
    /// error below 1e-12 over (0, 1)).
    static func quantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1)
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        var x: Double
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - low {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let e = cdf(x) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }
}
