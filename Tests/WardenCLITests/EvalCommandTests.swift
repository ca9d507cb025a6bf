import Foundation
import FaceKit
import Testing
@testable import WardenCLI
@testable import WardenLab

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

    /// train-metric on the shared set: a head over a seeded identity split, compared on the
    /// identities it held out, installed with thresholds calibrated through it, then used
    /// by identify; an altered head file stops matching with a reason.
    @Test(.needsFixtures, .needsSharedFaces) func aLearnedHeadIsTrainedComparedInstalledAndPinned() throws {
        let home = CLI.Home()
        let headFile = home.url.appendingPathComponent("heads/test.json").path
        let t = try CLI.run(["train-metric", CLI.sharedFaces.path, "--loss", "contrastive", "--epochs", "3", "--max-per-identity", "8",
                             "--out", headFile, "--json"], home: home)
        #expect(t.status == 0, "\(t.stderr)")
        let meta = try #require((try t.json() as? [String: Any])?["metadata"] as? [String: Any])
        let train = Set(meta["trainingIdentities"] as? [String] ?? []), val = Set(meta["validationIdentities"] as? [String] ?? [])
        let test = Set(meta["testIdentities"] as? [String] ?? [])
        #expect(!train.isEmpty && !val.isEmpty && !test.isEmpty)
        #expect(train.isDisjoint(with: val) && train.isDisjoint(with: test) && val.isDisjoint(with: test))
        #expect((meta["trainingSetHash"] as? String)?.count == 64)
        #expect(try FileManager.default.attributesOfItem(atPath: headFile)[.posixPermissions] as? Int == 0o600)

        let c = try CLI.run(["eval", CLI.sharedFaces.path, "--compare", "base,learned", "--metric-head", headFile, "--max-per-identity", "8", "--json"], home: home)
        #expect(c.status == 0, "\(c.stderr)")
        let both = try #require(try c.json() as? [String: [String: Any]])
        #expect(both["base"]?["identities"] as? Int == test.count && both["learned"]?["identities"] as? Int == test.count)

        // Installed with its thresholds; identify then matches through it.
        let cal = try CLI.run(["calibrate", CLI.sharedFaces.path, "--target-fmr", "1e-2", "--metric-head", headFile, "--max-per-identity", "8"], home: home)
        #expect(cal.status == 0, "\(cal.stderr)")
        let yaml = try String(contentsOf: home.url.appendingPathComponent("matching.yaml"), encoding: .utf8)
        #expect(yaml.contains("metric_head:") && yaml.contains(headFile))
        #expect(try CLI.run(["person", "add", "Barack Obama", "--external-id", "P1"], home: home).status == 0)
        #expect(try CLI.run(["enroll", "P1", CLI.fixtures.appendingPathComponent("obama.jpg").path], home: home).status == 0)
        let id = try CLI.run(["identify", CLI.fixtures.appendingPathComponent("obama2.jpg").path, "--json"], home: home)
        #expect((try id.json() as? [String: Any])?["personName"] as? String == "Barack Obama", "\(id.stdout)\(id.stderr)")

        // One byte changed: every matching command refuses, naming the file and the fix.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: headFile))
        bytes[bytes.count / 2] = bytes[bytes.count / 2] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        try bytes.write(to: URL(fileURLWithPath: headFile))
        let refused = try CLI.run(["identify", CLI.fixtures.appendingPathComponent("obama2.jpg").path], home: home)
        #expect(refused.status != 0 && refused.stderr.contains("has changed since it was calibrated"), "\(refused.stderr)")
    }
}

@Suite("evaluation plots")
struct EvalPlotTests {
    /// A known curve drawn to PNG: the series' colour is on the line and not far from it,
    /// and the title and axis labels put ink where the SVG puts them.
    @Test func thePNGDrawsTheSeriesAndTheText() throws {
        let plot = Plot(title: "A diagonal", xLabel: "x", yLabel: "y", series: [("line", [(x: 0, y: 0), (x: 1, y: 1)])], xRange: (0, 1), yRange: (0, 1))
        let raster = try PlotRaster()
        let img = try RGBImage(decoding: raster.png(plot))
        #expect(img.width == Int(Plot.width) && img.height == Int(Plot.height))
        func isSeries(_ x: Double, _ y: Double) -> Bool {
            let p = img[Int(x), Int(y)]
            return p.b > 150 && p.r < 120   // #1f77b4, blue
        }
        #expect(isSeries(plot.px(0.5), plot.py(0.5)) && isSeries(plot.px(0.25), plot.py(0.25)))
        #expect(!isSeries(plot.px(0.5), plot.py(0.25)) && !isSeries(plot.px(0.25), plot.py(0.75)))
        // The title is centred on y = 22; the rotated y label runs up x = 16.
        func ink(_ xs: ClosedRange<Int>, _ ys: ClosedRange<Int>) -> Bool { xs.contains { x in ys.contains { y in img[x, y].r < 128 } } }
        #expect(ink(280...360, 10...24))
        #expect(ink(4...18, 200...240))
        #expect(!ink(4...18, 60...120))
        #expect(plot.svg().contains("<polyline") && plot.svg().contains("A diagonal"))
    }
}
