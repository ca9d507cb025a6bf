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
        // Centred at that size (letterboxing would scale every frame back to one fit).
        return Frame(image: photo.resized(width: w, height: h).centered(width: 640, height: 480), at: Date(timeIntervalSince1970: t), sequence: Int(t * 10))
    }

    @Test func embedsAgainOnlyWhenTheFaceImproves() throws {
        let engine = try Self.engine.get()
        let photo = try RGBImage(contentsOf: Paths.fixture("obama.jpg"))
        // The whole frame each time: a region's crop shifts HOG's grid, and its scores vary by
        // a few percent, which is not what this test is about.
        let p = FacePipeline(options: DetectionOptions(upsample: 0), framesRequired: 2, scan: .wholeFrame)
        func embedded(_ scale: Double, _ t: Double) throws -> Bool {
            let o = try p.process(frame(photo, faceScale: scale, at: t), engine: engine)
            #expect(o.faces.count == 1 && o.faces[0].track == 1)
            return o.faces[0].embedding != nil
        }
        // Steps small enough for the tracker to keep one track (boxes overlap by 0.3 or more).
        let fit = 480.0 / Double(photo.height)
        #expect(try embedded(fit * 0.8, 0.0))      // evidence being collected: frame 1
        #expect(try embedded(fit * 0.8, 0.2))      // frame 2
        #expect(try !embedded(fit * 0.8, 0.4))     // no better (the same frame): skipped
        #expect(try !embedded(fit * 0.7, 0.6))     // smaller: skipped
        #expect(try embedded(fit * 0.9, 0.8))      // larger than the last embedded: again
        #expect(p.embeddingsSkipped == 2)
        // Decided: only rechecked twice a second (someone else may step into the same
        // place) until the controller wants another look.
        p.settle(track: 1, until: Date(timeIntervalSince1970: 5))
        #expect(try !embedded(fit * 1.0, 1.0))     // better, but decided and checked 0.2 s ago
        #expect(try embedded(fit * 0.7, 1.3))      // the recheck, whatever the quality
        #expect(try !embedded(fit * 1.0, 1.5))
        #expect(try embedded(fit * 0.7, 5.0))      // looked at afresh
        #expect(try embedded(fit * 0.7, 5.2))      // collecting evidence again: frame 2
        p.settle(track: 1, until: nil)             // someone new: afresh
        #expect(try embedded(fit * 0.7, 5.3))
    }

    /// The faces of `photos` side by side on a 640x480 frame, each cropped around its face
    /// and scaled to `side` px.
    func scene(_ photos: [RGBImage?], side: Int = 250) throws -> RGBImage {
        let engine = try Self.engine.get()
        var canvas = RGBImage(width: 640, height: 480, fill: (40, 40, 40))
        for (i, photo) in photos.enumerated() {
            guard let photo, let f = try engine.detect(photo, options: DetectionOptions(upsample: 1)).first else { continue }
            let half = f.box.width, cx = (f.box.left + f.box.right) / 2, cy = (f.box.top + f.box.bottom) / 2
            let l = max(0, cx - half), t = max(0, cy - half)
            let crop = photo.cropped(left: l, top: t, width: min(photo.width - l, 2 * half), height: min(photo.height - t, 2 * half)).resized(width: side, height: side)
            let x0 = 40 + i * 330, y0 = 115
            for y in 0..<side {
                for x in 0..<side {
                    let s = (y * side + x) * 3, d = ((y0 + y) * 640 + x0 + x) * 3
                    canvas.pixels[d] = crop.pixels[s]; canvas.pixels[d + 1] = crop.pixels[s + 1]; canvas.pixels[d + 2] = crop.pixels[s + 2]
                }
            }
        }
        return canvas
    }

    /// While one person is tracked, frames are scanned only around them; a second person
    /// stepping in elsewhere is still found within `wholeFrameEvery` frames, and whoever
    /// leaves the region makes the next scan the whole frame.
    @Test func aNewcomerIsFoundWithinTheWholeFrameInterval() throws {
        let engine = try Self.engine.get()
        let obama = try RGBImage(contentsOf: Paths.fixture("obama.jpg")), biden = try RGBImage(contentsOf: Paths.fixture("biden.jpg"))
        let alone = try scene([obama]), both = try scene([obama, biden])
        #expect(try engine.detect(both, options: DetectionOptions(upsample: 0)).count == 2, "the scene shows two detectable faces")
        for every in [2, 4, 6] {
            let p = FacePipeline(options: DetectionOptions(upsample: 0), framesRequired: 2, scan: ScanPlan(wholeFrameEvery: every))
            var t = 0.0
            func step(_ image: RGBImage) throws -> FaceObservation {
                t += 0.1
                return try p.process(Frame(image: image, at: Date(timeIntervalSince1970: t), sequence: Int(t * 10)), engine: engine)
            }
            for _ in 0..<(every + 1) { #expect(try step(alone).faces.count == 1) }
            #expect(p.scans.region > 0, "frames with one tracked face are scanned around it")
            // The second person steps in: found by the next whole-frame scan at the latest.
            var found: Int? = nil
            for n in 1...(every + 2) where found == nil {
                if try step(both).faces.count == 2 { found = n }
            }
            #expect(found != nil && found! <= every, "found after \(found.map(String.init) ?? "never") frames with a whole-frame scan every \(every)")
            // Both tracked now; step to just after a whole-frame scan, so the next is a region.
            var whole = p.scans.wholeFrame
            for _ in 0..<every where p.scans.wholeFrame == whole {
                #expect(try step(both).faces.count == 2)
            }
            #expect(p.scans.wholeFrame == whole + 1, "a whole-frame scan within \(every) frames")
            // One leaves: the region misses a face it held, and the same frame is scanned whole.
            let before = p.scans
            whole = before.wholeFrame
            #expect(try step(try scene([nil, biden])).faces.count == 1)
            #expect(p.scans.regionMissed == before.regionMissed + 1 && p.scans.wholeFrame == whole + 1 && p.scans.region == before.region,
                    "a face gone from the region makes a whole-frame scan at once: \(p.scans) after \(before)")
        }
    }

    @Test func aRegionFindsTheSameFaceAsTheWholeFrame() throws {
        let engine = try Self.engine.get()
        let frame = try scene([try RGBImage(contentsOf: Paths.fixture("obama.jpg"))])
        // A 250 px face is looked for at half size (at 70% of its size it still fills HOG's window).
        #expect(ScanPlan.door.region(around: [FaceBox(left: 100, top: 100, right: 349, bottom: 349)], width: 1280, height: 720)?.shrink == 2)
        #expect(ScanPlan.door.region(around: [FaceBox(left: 100, top: 100, right: 199, bottom: 199)], width: 640, height: 480)?.shrink == 1)
        for width in [640, 320] {   // at full size, and shrunk by 2 as a 1280-wide frame would be
            let o = DetectionOptions(upsample: 0, maximumDetectionWidth: width)
            let whole = try engine.detect(frame, options: o)
            let region = try #require(ScanPlan.door.region(around: whole.map(\.box), width: 640, height: 480, frameFactor: o.detectionFactor(width: 640)))
            let inside = try engine.detect(frame, options: o, within: region.box, shrink: region.shrink)
            #expect(whole.count == 1 && inside.count == 1)
            #expect(inside[0].box.iou(whole[0].box) > 0.8, "\(inside[0].box) against \(whole[0].box)")
            // Landmarks are refitted from the box their first fit implies, so the region's box,
            // on another grid, leaves them where the whole frame's put them.
            let moved = zip(whole[0].landmarks.points, inside[0].landmarks.points).map { $0.distance(to: $1) }.max() ?? 0
            let a = try engine.embed(frame, face: whole[0]), b = try engine.embed(frame, face: inside[0])
            #expect(moved < 1.5, "landmarks \(moved) px apart")
            #expect(DistanceMetric.euclidean.distance(a.values, b.values) < 0.01)
        }
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

/// A door's scan plan comes from its site file: `whole_frame_every`, default 4.
@Test func theSiteFileSetsWhereADoorLooks() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-scan-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("policy"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("site.yaml").path
    try """
    policy: policy
    pinmap: \(Paths.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
    gpio: simulated
    doors:
      lobby: {face: {whole_frame_every: 1}}
      server-room: {}
    """.write(toFile: file, atomically: true, encoding: .utf8)
    let config = try SiteConfig.load(path: file)
    #expect(config.doors["lobby"]?.face.scan == .wholeFrame)
    #expect(config.doors["server-room"]?.face.scan == .door)
    #expect(ScanPlan.door.wholeFrameEvery == 4)
}
