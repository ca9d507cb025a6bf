import Foundation

/// Summary statistics for benchmark samples, in the sample's own unit.
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

/// Wall-clock milliseconds for one call.
func milliseconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try body()
    return (result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
}

/// Peak resident set size of this process so far, in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
}

/// Runs a reference peer script under `python` and returns what it printed on stdout.
func runPeerScript(python: String, script: String, arguments: [String]) throws -> Data {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [Checkout.root.appendingPathComponent(script).path] + arguments
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw CLIError("the reference peer \(script) failed (exit \(p.terminationStatus)); run bench/peers/setup.sh") }
    return data
}
