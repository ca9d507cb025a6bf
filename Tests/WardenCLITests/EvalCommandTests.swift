import Foundation
import Testing
@testable import WardenCLI

@Suite("warden eval and calibrate", .serialized)
struct EvalCommandTests {
    /// Two identities from the fixtures: Obama (three photos) and Biden (one).
    func dataset() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("warden-dataset-\(UUID())")
        for (person, photos) in [("obama", ["obama.jpg", "obama2.jpg", "obama3.jpg"]), ("biden", ["biden.jpg"])] {
            let dir = root.appendingPathComponent(person)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for p in photos { try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent(p), to: dir.appendingPathComponent(p)) }
        }
        return root
    }

    @Test(.needsFixtures) func evalCountsPairsAndCalibrateRefusesWhatItCannotSupport() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let home = CLI.Home()
        let eval = try CLI.run(["eval", data.path, "--json"], home: home)
        #expect(eval.status == 0, "\(eval.stderr)")
        let r = try #require(try eval.json() as? [String: Any])
        #expect(r["identities"] as? Int == 2 && r["images"] as? Int == 4)
        #expect(r["genuinePairs"] as? Int == 3 && r["impostorPairs"] as? Int == 3)
        // Three impostor pairs cannot say anything about FMR 1e-2, let alone 1e-4.
        let points = try #require(r["atFMR"] as? [[String: Any]])
        #expect(points.allSatisfy { $0["supported"] as? Bool == false })

        let c = try CLI.run(["calibrate", data.path, "--target-fmr", "1e-4"], home: home)
        #expect(c.status != 0)
        #expect(c.stderr.contains("3 impostor pairs cannot support FMR 0.0001") && c.stderr.contains("30000"))
        #expect(!FileManager.default.fileExists(atPath: home.url.appendingPathComponent("matching.yaml").path))
    }
}
