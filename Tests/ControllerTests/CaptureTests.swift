import Capture
import FaceKit
import Foundation
import Testing
import WardenCore

@Suite("Capture and tracking")
struct CaptureTests {
    @Test func imageSequencePlaysAtItsRate() throws {
        let clock = ManualClock()
        let imgs = (0..<3).map { RGBImage(width: 8, height: 8, fill: (UInt8($0 * 50), 0, 0)) }
        let src = ImageSequenceSource(name: "seq", images: imgs, fps: 5, clock: clock)
        #expect(try src.nextFrame()?.sequence == 0)
        #expect(try src.nextFrame() == nil)          // not due yet
        clock.advance(by: 0.2)
        #expect(try src.nextFrame()?.sequence == 1)
        clock.advance(by: 0.2)
        #expect(try src.nextFrame()?.image == imgs[2])
        clock.advance(by: 1)
        #expect(try src.nextFrame() == nil)          // ended
        let looped = ImageSequenceSource(name: "loop", images: imgs, fps: 10, loop: true, clock: clock)
        for i in 0..<7 { #expect(try looped.nextFrame()?.image == imgs[i % 3]); clock.advance(by: 0.1) }
    }

    @Test func cameraHealthSeesBlackSaturatedAndFrozenFeeds() {
        var h = CameraHealth(frozenAfter: 3)
        var rng = SystemRandomNumberGenerator()
        func noise() -> RGBImage {
            var img = RGBImage(width: 32, height: 32)
            for i in img.pixels.indices { img.pixels[i] = UInt8.random(in: 30...220, using: &rng) }
            return img
        }
        #expect(h.check(noise()) == nil)
        #expect(h.check(RGBImage(width: 32, height: 32)) == .some(.black))
        #expect(h.check(RGBImage(width: 32, height: 32, fill: (255, 255, 255))) == .some(.saturated))
        #expect(h.check(noise()) == .some(nil))     // recovered
        let still = noise()
        #expect(h.check(still) == nil)
        for _ in 0..<2 { #expect(h.check(still) == nil) }
        #expect(h.check(still) == .some(.frozen))
        #expect(h.check(noise()) == .some(nil))
        // With frame times: a burst of repeats shorter than frozenFor is not a fault.
        var timed = CameraHealth(frozenAfter: 3, frozenFor: 2)
        let t0 = Date(timeIntervalSince1970: 0)
        for i in 0..<10 { #expect(timed.check(still, at: t0.addingTimeInterval(Double(i) * 0.1)) == nil) }
        #expect(timed.check(still, at: t0.addingTimeInterval(2.0)) == .some(.frozen))
    }

    @Test func trackerKeepsFacesApartAndFollowsThem() {
        func face(_ x: Int, eyes: Double = 40) -> Face {
            Face(box: FaceBox(left: x, top: 100, right: x + 100, bottom: 200), score: 1,
                 landmarks: FaceLandmarks(rightEyeOuter: .init(x: Double(x) + 70 + eyes / 2, y: 130), rightEyeInner: .init(x: Double(x) + 60, y: 130),
                                          leftEyeOuter: .init(x: Double(x) + 30 - eyes / 2, y: 130), leftEyeInner: .init(x: Double(x) + 40, y: 130),
                                          noseBase: .init(x: Double(x) + 50, y: 170)))
        }
        var t = FaceTracker()
        let t0 = Date(timeIntervalSince1970: 0)
        let first = t.update([face(0), face(400)], at: t0)
        #expect(first == [1, 2])
        // Both move a little; identities are kept, and the order of faces does not matter.
        let second = t.update([face(410), face(8, eyes: 60)], at: t0.addingTimeInterval(0.2))
        #expect(second == [2, 1])
        // The larger, clearer face is the better one to embed (FacePipelineTests: re-embedding).
        #expect(FaceTracker.quality(of: face(8, eyes: 60)) > FaceTracker.quality(of: face(410)))
        // A slow pipeline: the next processed frame comes 4 s later; the face stood still,
        // so it is the same track.
        #expect(t.update([face(12)], at: t0.addingTimeInterval(4.2)) == [1])
        // The face leaves: two processed frames without it, and the gap, end the track.
        #expect(t.update([], at: t0.addingTimeInterval(4.4)).isEmpty)
        #expect(t.tracks.map(\.id).sorted() == [1, 2])          // gone for 0.2 s: kept
        _ = t.update([], at: t0.addingTimeInterval(6))
        #expect(t.update([face(0)], at: t0.addingTimeInterval(6.2)) == [3])
        #expect(t.tracks.map(\.id) == [3])
        // A board that takes 14 s per frame: the face stood still, so it is the same track
        // (issue 16: time alone never ends a track, or a slow board never decides).
        #expect(t.update([face(0)], at: t0.addingTimeInterval(20)) == [3])
        #expect(t.update([face(4)], at: t0.addingTimeInterval(34)) == [3])
        // The camera was lost and came back: whoever is there is looked at afresh.
        t.reset()
        #expect(t.update([face(4)], at: t0.addingTimeInterval(35)) == [4])
    }
}
