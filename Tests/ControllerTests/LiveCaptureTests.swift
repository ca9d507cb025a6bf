import Capture
import FaceKit
import Foundation
import Testing
import WardenCore

final class Events: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [CaptureEvent] = []
    func add(_ e: CaptureEvent) { lock.lock(); list.append(e); lock.unlock() }
    var all: [CaptureEvent] { lock.lock(); defer { lock.unlock() }; return list }
}

/// Builds a short MJPEG clip out of fixture photos with the real ffmpeg.
func makeClip(_ photos: [String], fps: Int = 5) throws -> (clip: URL, frames: [RGBImage], dir: URL) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-clip-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var frames: [RGBImage] = []
    for (i, p) in photos.enumerated() {
        let img = try RGBImage(contentsOf: p).letterboxed(width: 640, height: 480)
        frames.append(img)
        try Data(img.ppmData()).write(to: dir.appendingPathComponent(String(format: "f%03d.ppm", i + 1)))
    }
    let clip = dir.appendingPathComponent("clip.avi")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    p.arguments = ["-hide_banner", "-loglevel", "error", "-y", "-framerate", String(fps), "-i", dir.appendingPathComponent("f%03d.ppm").path,
                   "-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj444p", clip.path]
    try p.run(); p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw CaptureError.unreadable(clip.path, "ffmpeg could not build the clip") }
    return (clip, frames, dir)
}

func waitFrames(_ src: any FrameSource, count: Int, timeout: TimeInterval) throws -> [Frame] {
    var got: [Frame] = []
    let deadline = Date().addingTimeInterval(timeout)
    while got.count < count && Date() < deadline {
        if let f = try src.nextFrame() { got.append(f) } else { usleep(10_000) }
    }
    return got
}

@Suite("Live capture", .serialized,
       .enabled(if: Paths.haveFixtures && FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg"), "needs the fixtures and ffmpeg (make setup)"))
struct LiveCaptureTests {
    @Test func anFFmpegPipeDeliversTheClipsFrames() throws {
        let (clip, frames, dir) = try makeClip([Paths.fixture("obama.jpg"), Paths.fixture("biden.jpg"), Paths.fixture("obama2.jpg")])
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = Events()
        let src = FFmpegSource(input: clip.path, width: 640, height: 480, fps: 5, onEvent: { events.add($0) })
        defer { src.stop() }
        let got = try waitFrames(src, count: 3, timeout: 15)
        #expect(got.count == 3)
        #expect(got.allSatisfy { $0.image.width == 640 && $0.image.height == 480 })
        // Each delivered frame is close to the photo it came from (MJPEG is lossy).
        func meanDiff(_ a: RGBImage, _ b: RGBImage) -> Double {
            zip(a.pixels, b.pixels).reduce(0.0) { $0 + Double(abs(Int($1.0) - Int($1.1))) } / Double(a.pixels.count)
        }
        for f in got { #expect(frames.map { meanDiff(f.image, $0) }.min()! < 6) }
        // And the real face pipeline finds a face in it.
        let engine = try FaceEngine(models: ModelSet(directory: Paths.root.appendingPathComponent("models").path))
        #expect(try engine.detect(got[0].image, options: DetectionOptions(upsample: 0)).count == 1)
        #expect(events.all.first == .started(clip.path))
    }

    @Test func aLoopingClipKeepsPlaying() throws {
        let (clip, _, dir) = try makeClip([Paths.fixture("obama.jpg"), Paths.fixture("biden.jpg")], fps: 10)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = FFmpegSource(input: clip.path, fps: 10, loop: true)
        defer { src.stop() }
        #expect(try waitFrames(src, count: 6, timeout: 15).count == 6)  // three times the clip's two frames
    }

    @Test func aMissingStreamIsReportedAndRetriedNotFatal() throws {
        let events = Events()
        let src = FFmpegSource(input: "/nonexistent/clip.mp4", loop: true, onEvent: { events.add($0) })
        Thread.sleep(forTimeInterval: 2.0)
        src.stop()
        #expect(try src.nextFrame() == nil)
        let lost = events.all.filter { if case .lost = $0 { return true }; return false }
        #expect(lost.count >= 2)  // it retried, with back-off
    }

    @Test func v4l2ErrorsAreReadable() throws {
        let events = Events()
        let src = V4L2Source(device: "/dev/video-does-not-exist", onEvent: { events.add($0) })
        Thread.sleep(forTimeInterval: 0.3)
        src.stop()
        guard case .lost(let why) = events.all.first else { Issue.record("no event: \(events.all)"); return }
        #expect(why.contains("cannot open /dev/video-does-not-exist") && why.contains("No such file"))
    }
}
