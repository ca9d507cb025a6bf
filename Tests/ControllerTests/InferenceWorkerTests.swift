import Capture
import FaceKit
import Foundation
import Testing
@testable import Controller

@Suite("Inference worker", .enabled(if: Paths.haveFixtures, "needs the fixtures and models from `make setup`"))
struct InferenceWorkerTests {
    /// Frames handed to a worker come back as observations with embeddings; frames that
    /// arrive while it is busy replace the waiting one (dropped, counted), never queue up.
    @Test func observesFramesAndDropsStaleOnes() throws {
        let engine = try FaceEngine(models: ModelSet(directory: Paths.root.appendingPathComponent("models").path))
        let worker = InferenceWorker(engine: engine, pipeline: FacePipeline(options: DetectionOptions(upsample: 0), framesRequired: 2))
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
}
