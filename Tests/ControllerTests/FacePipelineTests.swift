import Capture
import FaceKit
import Foundation
import Testing
@testable import Controller

@Suite("Face pipeline", .serialized, .enabled(if: Paths.haveFixtures, "needs the fixtures and models from `make setup`"))
struct FacePipelineTests {
    /// One engine for the suite, which is serialized: dlib engines are not thread-safe.
    static let engine = Result { try FaceEngine(models: ModelSet(directory: Paths.root.appendingPathComponent("models").path)) }

    /// The same photo framed tighter or looser: the face is larger or smaller in the frame.
    func frame(_ photo: RGBImage, faceScale: Double, at t: Double) -> Frame {
        let w = Int(Double(photo.width) * faceScale), h = Int(Double(photo.height) * faceScale)
        return Frame(image: photo.resized(width: w, height: h).letterboxed(width: 640, height: 480), at: Date(timeIntervalSince1970: t), sequence: Int(t * 10))
    }

    @Test func embedsAgainOnlyWhenTheFaceImproves() throws {
        let engine = try Self.engine.get()
        let photo = try RGBImage(contentsOf: Paths.fixture("obama.jpg"))
        let p = FacePipeline(options: DetectionOptions(upsample: 0), framesRequired: 2)
        func embedded(_ scale: Double, _ t: Double) throws -> Bool {
            let o = try p.process(frame(photo, faceScale: scale, at: t), engine: engine)
            #expect(o.faces.count == 1 && o.faces[0].track == 1)
            return o.faces[0].embedding != nil
        }
        let fit = 480.0 / Double(photo.height)
        #expect(try embedded(fit * 0.8, 0.0))      // evidence being collected: frame 1
        #expect(try embedded(fit * 0.8, 0.2))      // frame 2
        #expect(try !embedded(fit * 0.8, 0.4))     // no better: skipped
        #expect(try !embedded(fit * 0.5, 0.6))     // smaller: skipped
        #expect(try embedded(fit, 0.8))            // larger than the last embedded: again
        #expect(p.embeddingsSkipped == 2)
        // Decided: only rechecked twice a second (someone else may step into the same
        // place) until the controller wants another look.
        p.settle(track: 1, until: Date(timeIntervalSince1970: 5))
        #expect(try !embedded(fit * 1.2, 1.0))     // better, but decided and checked 0.2 s ago
        #expect(try embedded(fit * 0.5, 1.3))      // the recheck, whatever the quality
        #expect(try !embedded(fit * 1.2, 1.5))
        #expect(try embedded(fit * 0.5, 5.0))      // looked at afresh
        #expect(try embedded(fit * 0.5, 5.2))      // collecting evidence again: frame 2
        p.settle(track: 1, until: nil)             // someone new: afresh
        #expect(try embedded(fit * 0.5, 5.3))
    }

    @Test func largeFramesAreDetectedAtReducedSizeWithFullSizeLandmarks() throws {
        let engine = try Self.engine.get()
        let photo = try RGBImage(contentsOf: Paths.fixture("obama.jpg")).letterboxed(width: 1280, height: 720)
        let full = try engine.detect(photo, options: DetectionOptions(upsample: 0))
        let reduced = try engine.detect(photo, options: DetectionOptions(upsample: 0, maximumDetectionWidth: 640))
        #expect(DetectionOptions(maximumDetectionWidth: 640).detectionFactor(width: 1280) == 2)
        #expect(DetectionOptions(maximumDetectionWidth: 640).detectionFactor(width: 640) == 1)
        #expect(full.count == 1 && reduced.count == 1)
        // Same face: boxes overlap, and the embeddings agree (landmarks fitted on the full frame).
        #expect(full[0].box.iou(reduced[0].box) > 0.6)
        let a = try engine.embed(photo, face: full[0]), b = try engine.embed(photo, face: reduced[0])
        #expect(DistanceMetric.euclidean.distance(a.values, b.values) < 0.1)
    }

    @Test func downsamplingAveragesBlocks() throws {
        let img = try RGBImage(width: 4, height: 2, pixels: [0, 0, 0, 10, 20, 30, 100, 100, 100, 200, 200, 200,
                                                             20, 40, 60, 30, 60, 90, 100, 100, 100, 0, 0, 0])
        let half = img.downsampled(by: 2)
        #expect(half.width == 2 && half.height == 1)
        #expect(half.pixels == [15, 30, 45, 100, 100, 100])
        #expect(img.downsampled(by: 1) == img)
    }
}
