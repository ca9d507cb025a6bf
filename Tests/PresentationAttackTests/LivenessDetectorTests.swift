import FaceKit
import Foundation
import WardenTestSupport
import Testing
@testable import PresentationAttack

enum PADPaths {
    static let root: URL = TestCheckout.root
    static let sharedModels = TestCheckout.sharedModels.path
    static let sharedPAD = TestCheckout.sharedPAD
    static let faceModels = TestCheckout.models.path
    static func sample(_ n: String) -> String { TestCheckout.padSample(n) }
    static var haveModels: Bool { PADModelFile.pair.allSatisfy { FileManager.default.fileExists(atPath: sharedModels + "/" + $0.rawValue) } }
    static var haveSamples: Bool { TestCheckout.havePAD(models: PADModelFile.pair.map(\.rawValue)) }
    static var haveFaceModels: Bool { FileManager.default.fileExists(atPath: faceModels + "/" + ModelFile.recognition.rawValue) }

    static let detector = Result { try LivenessDetector(locator: PADModelLocator(explicitDirectory: sharedModels, faceModels: ModelLocator())) }
    static let engine = Result { try FaceEngine(models: ModelSet(directory: faceModels)) }
}

extension Trait where Self == ConditionTrait {
    static var needsPADModels: Self {
        .enabled(if: PADPaths.haveModels, "needs the MiniFASNet models in ../shared/models (no registry ships them); absent here, so skipped")
    }
    static var needsPADSamples: Self {
        .enabled(if: PADPaths.haveModels && PADPaths.haveSamples && PADPaths.haveFaceModels,
                 "needs ../shared/models, ../shared/pad and the face models from `make setup`; absent here, so skipped")
    }
}

@Suite struct PADModelLocatorTests {
    @Test func aMissingModelIsNamedWithItsSourceAndSum() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pad-empty-\(UUID())").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let locator = PADModelLocator(explicitDirectory: empty, faceModels: ModelLocator())
        let error = try #require(throws: PADModelError.self) { try locator.locate() }
        #expect(error.file == .miniFASNetV2 && error.problem == .missing)
        #expect(error.description.contains("minifasnet_v2_2.7_80x80.onnx"))
        #expect(error.description.contains("minivision-ai/Silent-Face-Anti-Spoofing"))
        #expect(error.description.contains(PADModelFile.miniFASNetV2.sha256))
        #expect(error.description.contains(empty))
    }

    @Test func aSubstitutedModelIsRefusedBySum() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pad-bad-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for f in PADModelFile.pair { try Data("not a model".utf8).write(to: URL(fileURLWithPath: dir + "/" + f.rawValue)) }
        let error = try #require(throws: PADModelError.self) { try PADModelLocator(explicitDirectory: dir, faceModels: ModelLocator()).locate() }
        guard case .wrongSum(let found) = error.problem else { Issue.record("expected a wrong sum, got \(error.problem)"); return }
        #expect(found != PADModelFile.miniFASNetV2.sha256 && error.description.contains("is not the expected file"))
    }

    /// Past the sum check (loaded straight from a folder): OpenCV's parse error becomes a
    /// model error that names the file, never a crash.
    @Test func aCorruptModelFileIsAClearError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pad-corrupt-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        for f in PADModelFile.pair { try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + f.rawValue)) }
        let error = try #require(throws: LivenessEngineError.self) { try LivenessDetector(directory: dir) }
        guard case .model(let message) = error else { Issue.record("expected a model error, got \(error)"); return }
        #expect(message.contains("minifasnet_v2_2.7_80x80.onnx"))
    }

    @Test(.needsPADModels) func theWrongKindOfModelIsRefused() throws {
        // YuNet is a real ONNX model, but not an 80x80 three-class one.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pad-wrong-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: PADPaths.sharedModels + "/face_detection_yunet_2022mar.onnx", toPath: dir + "/" + PADModelFile.miniFASNetV2.rawValue)
        try FileManager.default.copyItem(atPath: PADPaths.sharedModels + "/" + PADModelFile.miniFASNetV1SE.rawValue, toPath: dir + "/" + PADModelFile.miniFASNetV1SE.rawValue)
        let error = try #require(throws: LivenessEngineError.self) { try LivenessDetector(directory: dir) }
        guard case .model = error else { Issue.record("expected a model error, got \(error)"); return }
    }
}

@Suite(.serialized) struct LivenessDetectorTests {
    func largestFace(_ path: String) throws -> (RGBImage, Face) {
        let image = try RGBImage(contentsOf: path)
        let faces = try PADPaths.engine.get().detect(image, options: DetectionOptions(upsample: 1))
        return (image, try #require(faces.largest, "no face in \(path)"))
    }

    /// The real models on the real samples: the print (F1) and the screen (F2) score as
    /// attacks, the live person (T1) as bona fide, at the calibrated threshold.
    @Test(.needsPADSamples) func printAndScreenAreAttacksAndTheLivePersonIsNot() throws {
        let pad = try PADPaths.detector.get()
        let t = LivenessRule.standard.threshold
        for (file, live) in [("image_F1.jpg", false), ("image_F2.jpg", false), ("image_T1.jpg", true)] {
            let (image, face) = try largestFace(PADPaths.sample(file))
            let s = try pad.score(image, face: face)
            #expect((s.bonaFide >= t) == live, "\(file): p(bona fide) \(s.bonaFide) against threshold \(t)")
            #expect(abs(s.v2.reduce(0, +) - 1) < 1e-4 && abs(s.v1se.reduce(0, +) - 1) < 1e-4)
        }
    }

    /// The samples are stored landscape with EXIF orientation 6; decoded upright, the face
    /// is found (it was not before orientation was honoured).
    @Test(.needsPADSamples) func samplesDecodeUpright() throws {
        let image = try RGBImage(contentsOf: PADPaths.sample("image_T1.jpg"))
        #expect(image.width == 480 && image.height == 640)
    }

    /// A face at the image's edge: the crop shifts inside the image (and shrinks its scale
    /// when the image is too small for it), as upstream does; never out of bounds.
    @Test(.needsPADModels) func cropsOffTheEdgeAndTinyFacesNeverCrash() throws {
        let pad = try PADPaths.detector.get()
        let image = RGBImage(width: 120, height: 90, fill: (120, 100, 90))
        for box in [PADBox(x: -30, y: -30, width: 80, height: 80), PADBox(x: 100, y: 70, width: 80, height: 80),
                    PADBox(x: 0, y: 0, width: 120, height: 90), PADBox(x: 110, y: 80, width: 20, height: 20)] {
            let s = try pad.score(image, box: box)
            #expect(s.bonaFide >= 0 && s.bonaFide <= 1)
            let crop = try pad.crop(image, box: box, model: 1)
            #expect(crop.width == 80 && crop.height == 80)
        }
        for bad in [PADBox(x: 500, y: 500, width: 30, height: 30), PADBox(x: 60, y: 45, width: 8, height: 8), PADBox(x: 10, y: 10, width: 0, height: 5), PADBox(x: .nan, y: 0, width: 5, height: 5)] {
            #expect(throws: LivenessEngineError.self) { try pad.score(image, box: bad) }
        }
        let tiny = RGBImage(width: 1, height: 1)
        #expect(throws: LivenessEngineError.self) { try pad.score(tiny, box: PADBox(x: 0, y: 0, width: 1, height: 1)) }
        // A box bigger than a tiny image: the scale shrinks to fit, nothing is read outside.
        let small = RGBImage(width: 24, height: 24, fill: (1, 2, 3))
        #expect(try pad.score(small, box: PADBox(x: 0, y: 0, width: 24, height: 24)).bonaFide <= 1)
    }

    @Test func madeUpAttacksAreDeterministicAndKeepTheSize() {
        var still = RGBImage(width: 64, height: 48, fill: (10, 200, 30))
        for i in stride(from: 0, to: still.pixels.count, by: 7) { still.pixels[i] = UInt8(i % 251) }
        for kind in MadeUpAttack.allCases {
            let a = kind.make(from: still, seed: 3, phase: 0.5), b = kind.make(from: still, seed: 3, phase: 0.5)
            #expect(a == b && a.width == 64 && a.height == 48 && a != still, "\(kind)")
        }
    }
}
