import Foundation

/// Summary statistics for benchmark samples, in the sample's own unit: the lab's
/// benchmarks and the fleet server's `bench fleet` report with it.
package struct SampleStats: Codable, Equatable {
    package let count: Int
    package let median: Double
    package let p95: Double
    package let p99: Double
    package let min: Double
    package let max: Double

    package init(_ samples: [Double]) {
        let s = samples.sorted()
        count = s.count
        median = Self.quantile(s, 0.5)
        p95 = Self.quantile(s, 0.95)
        p99 = Self.quantile(s, 0.99)
        min = s.first ?? .nan
        max = s.last ?? .nan
    }

    /// Linear interpolation between closest ranks (the R-7 / NumPy default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down)), hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}

