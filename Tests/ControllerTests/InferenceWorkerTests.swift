import Capture
import FaceKit
import Foundation
import Testing
@testable import Controller

@Suite("Inference worker", .enabled(if: Paths.haveFixtures, "needs the fixtures and models from `make setup`"))
struct InferenceWorkerTests {
    /// Frames handed to a worker come back as observations with embeddings; frames that
    /// arrive while it is busy replace the waiting one (dropped, counted), never queue up.
    @Test(arguments: [1, 2]) func observesFramesAndDropsStaleOnes(stages: Int) throws {
        let engine = try FaceEngine(models: ModelSet(directory: Paths.root.appendingPathComponent("models").path))
        let worker = InferenceWorker(engine: engine, pipeline: FacePipeline(options: DetectionOptions(upsample: 0), framesRequired: 2), stages: stages)
        defer { worker.stop() }
        let image = try RGBImage(contentsOf: Paths.fixture("obama.jpg")).letterboxed(width: 640, height: 480)
        let t0 = Date()
        for i in 0..<20 { worker.submit(Frame(image: image, at: t0.addingTimeInterval(Double(i) / 5), sequence: i)) }
        var got: [FaceObservation] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            got += worker.take()
            if let last = got.last, last.at == t0.addingTimeInterval(19.0 / 5) { break }
            usleep(10_000)
        }
        #expect(got.last?.at == t0.addingTimeInterval(19.0 / 5))      // the newest frame is always processed
        #expect(got.count < 20 && worker.droppedFrames > 0)      // stale ones were dropped
        #expect(got.allSatisfy { $0.faces.count == 1 && $0.faces[0].track == 1 })
        // The same face, no better than before: embedded for the two frames of evidence
        // the door needs, then skipped.
        let embedded = got.filter { $0.faces[0].embedding != nil }
        #expect(embedded.count == min(2, got.count) && embedded.allSatisfy { $0.faces[0].embedding!.values.count == 128 })
        #expect(worker.pipeline.embeddingsSkipped == got.count - embedded.count)
        #expect(got.map(\.at) == got.map(\.at).sorted())         // in order
    }

    /// Two stages (the next frame detected on a second thread while this one embeds, one
    /// engine shared by the two) answer every frame exactly as one thread does, in order:
    /// the same faces, tracks, boxes, choices to embed and embeddings.
    @Test func twoStagesAnswerAsOneThreadDoes() throws {
        let models = try ModelSet(directory: Paths.root.appendingPathComponent("models").path)
        let obama = try RGBImage(contentsOf: Paths.fixture("obama.jpg")), biden = try RGBImage(contentsOf: Paths.fixture("biden.jpg"))
        func framed(_ photo: RGBImage, _ scale: Double) -> RGBImage {
            let fit = min(640 / Double(photo.width), 480 / Double(photo.height)) * scale
            return photo.resized(width: Int(Double(photo.width) * fit), height: Int(Double(photo.height) * fit)).centered(width: 640, height: 480)
        }
        // One person walks up, the camera sees nobody, another walks up.
        var images = (0..<6).map { framed(obama, 0.6 + 0.08 * Double($0)) }
        images += [RGBImage(width: 640, height: 480), RGBImage(width: 640, height: 480)]
        images += (0..<6).map { framed(biden, 0.6 + 0.08 * Double($0)) }
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        let frames = images.enumerated().map { Frame(image: $1, at: t0.addingTimeInterval(0.7 * Double($0)), sequence: $0) }
        let options = DetectionOptions(upsample: 0, maximumDetectionWidth: 640)

        let inline = FacePipeline(options: options, framesRequired: 2)
        let inlineEngine = try FaceEngine(models: models)
        let expected = try frames.map { try inline.process($0, engine: inlineEngine) }

        let worker = InferenceWorker(engine: try FaceEngine(models: models), pipeline: FacePipeline(options: options, framesRequired: 2), stages: 2)
        defer { worker.stop() }
        var got: [FaceObservation] = []
        for f in frames { worker.submitWaiting(f); got += worker.take() }
        while got.count < frames.count {
            let more = worker.takeWaiting()
            if more.isEmpty { break }
            got += more
        }
        #expect(worker.droppedFrames == 0 && worker.errors == 0)
        try #require(got.count == frames.count, "\(got.count) of \(frames.count) frames answered")
        #expect(got.map(\.at) == frames.map(\.at), "in capture order")
        #expect(expected.filter { $0.faces.contains { $0.embedding != nil } }.count >= 4, "the frames exercise embedding")
        for (a, b) in zip(expected, got) {
            #expect(a.faces.map(\.track) == b.faces.map(\.track) && a.faces.map(\.face.box) == b.faces.map(\.face.box), "frame at \(a.at)")
            #expect(a.faces.map { $0.embedding?.values } == b.faces.map { $0.embedding?.values }, "embeddings of the frame at \(a.at)")
        }
        #expect(worker.pipeline.scans == inline.scans)
    }

    /// Never more inference threads than the board has cores.
    @Test func twoStagesOnlyWhenEveryCameraHasTwoCores() {
        #expect(InferenceWorker.stages(cameras: 1, cores: 2) == 2)
        #expect(InferenceWorker.stages(cameras: 1, cores: 1) == 1)
        #expect(InferenceWorker.stages(cameras: 2, cores: 2) == 1)
        #expect(InferenceWorker.stages(cameras: 2, cores: 4) == 2)
        #expect(InferenceWorker.stages(cameras: 3, cores: 4) == 1)
        #expect(InferenceWorker.stages(cameras: 0, cores: 8) == 1)
    }
}
