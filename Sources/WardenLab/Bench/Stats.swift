import CommandSupport
import WardenCLI
import WardenCore
import Foundation

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
