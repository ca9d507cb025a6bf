import Foundation
import WardenTestSupport
import FuzzHarnesses
import Testing

/// Every committed fuzz input, replayed through the same harness `make fuzz` runs: the
/// seeds, and each crash the fuzzer once found (saved as `crash-*`), stay regression tests.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let root = TestCheckout.root
        .appendingPathComponent("fuzz/corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusReplaysCleanly(_ target: FuzzTarget) throws {
        let dir = Self.root.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files.count >= 3, "fuzz/corpus/\(target.rawValue) should hold seeds")
        for f in files {
            let data = try Data(contentsOf: dir.appendingPathComponent(f))
            target.run(Array(data))    // a crash here is a regression: the harness traps on it
        }
    }
}
