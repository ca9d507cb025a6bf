import FaceKit
import Foundation
import WardenCore

/// What a live source reports about its own health.
public enum CaptureEvent: Sendable, Equatable {
    case started(String)
    case lost(String)
    case restored
}

/// The newest frame from a capture thread. A frame that arrives before the last one was
/// taken replaces it: a busy controller works on the newest picture, and stale frames are
/// dropped (and counted), never queued.
final class LatestFrame: @unchecked Sendable {
    private let lock = NSLock()
    private var frame: Frame?
    private(set) var dropped = 0
    func put(_ f: Frame) { lock.lock(); if frame != nil { dropped += 1 }; frame = f; lock.unlock() }
    func take() -> Frame? { lock.lock(); defer { frame = nil; lock.unlock() }; return frame }
    var hasFrame: Bool { lock.lock(); defer { lock.unlock() }; return frame != nil }
    var droppedCount: Int { lock.lock(); defer { lock.unlock() }; return dropped }
}

/// Back-off for reconnecting: 0.5 s, 1, 2, 4, then every 5 s.
struct Backoff {
    var attempt = 0
    mutating func next() -> TimeInterval { defer { attempt += 1 }; return min(5, 0.5 * pow(2, Double(attempt))) }
    mutating func reset() { attempt = 0 }
}

/// Video files and network cameras (rtsp://, http://) through an `ffmpeg` child process
/// that writes raw RGB24 frames to a pipe. If the stream ends or ffmpeg dies, it is
/// restarted with back-off (files: only with `loop`).
public final class FFmpegSource: FrameSource, @unchecked Sendable {
    public let name: String
    public var deliversContinuously: Bool { true }
    public let width: Int
    public let height: Int
    public let fps: Double
    public let loop: Bool
    private let clock: any WardenClock
    private let latest = LatestFrame()
    private let onEvent: @Sendable (CaptureEvent) -> Void
    private let lock = NSLock()
    private var process: Process?
    private var stopping = false
    private var thread: Thread?
    private var sequence = 0
    public static let executable = "/usr/bin/ffmpeg"

    /// `input`: a file path or URL. Frames are scaled to `width` x `height` (letterboxed).
    public init(input: String, width: Int = 640, height: Int = 480, fps: Double = 10, loop: Bool = false,
                clock: any WardenClock = SystemClock(), onEvent: @escaping @Sendable (CaptureEvent) -> Void = { _ in }) {
        self.name = input; self.width = width; self.height = height; self.fps = fps; self.loop = loop
        self.clock = clock; self.onEvent = onEvent
        let t = Thread { [weak self] in self?.run() }
        t.name = "warden.capture.ffmpeg"
        thread = t
        t.start()
    }

    public var droppedFrames: Int { latest.droppedCount }

    public func nextFrame() throws -> Frame? { latest.take() }

    private var atEnd = false
    /// A file played once has ended, and its last frame has been taken.
    public var ended: Bool { lock.lock(); defer { lock.unlock() }; return atEnd && !latest.hasFrame }

    /// Asks ffmpeg to stop, and kills it if it has not within a second (a child can inherit
    /// an ignored SIGTERM from its parent).
    public func stop() {
        lock.lock(); stopping = true; let p = process; lock.unlock()
        guard let p, p.isRunning else { return }
        p.terminate()
        let pid = p.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { if p.isRunning { kill(pid, SIGKILL) } }
    }

    deinit { stop() }

    var arguments: [String] {
        var a = ["-hide_banner", "-loglevel", "error", "-nostdin"]
        if name.hasPrefix("rtsp://") { a += ["-rtsp_transport", "tcp"] }
        if loop && !name.contains("://") { a += ["-stream_loop", "-1"] }
        if !name.contains("://") { a += ["-re"] }  // files play at their own rate, like a camera
        a += ["-i", name, "-an", "-vf", "scale=\(width):\(height):force_original_aspect_ratio=decrease,pad=\(width):\(height):(ow-iw)/2:(oh-ih)/2",
              "-r", String(fps), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        return a
    }

    private func run() {
        var backoff = Backoff()
        var everStarted = false
        let frameBytes = width * height * 3
        while true {
            lock.lock(); if stopping { lock.unlock(); return }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.executable)
            p.arguments = arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            process = p
            lock.unlock()
            do {
                try p.run()
                lock.lock(); let late = stopping; lock.unlock()
                if late { p.terminate(); kill(p.processIdentifier, SIGKILL) }
            } catch {
                onEvent(.lost("cannot start ffmpeg: \(error)"))
                Thread.sleep(forTimeInterval: backoff.next())
                continue
            }
            var buffer = Data()
            var gotFrame = false
            let reader = out.fileHandleForReading
            while true {
                let chunk = reader.readData(ofLength: frameBytes - buffer.count)
                if chunk.isEmpty { break }
                buffer.append(chunk)
                if buffer.count == frameBytes {
                    if !gotFrame {
                        gotFrame = true
                        backoff.reset()
                        onEvent(everStarted ? .restored : .started(name))
                        everStarted = true
                    }
                    if let image = try? RGBImage(width: width, height: height, pixels: [UInt8](buffer)) {
                        latest.put(Frame(image: image, at: clock.now, sequence: sequence))
                        sequence += 1
                    }
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            p.waitUntilExit()
            lock.lock(); let stop = stopping; lock.unlock()
            if stop { return }
            if !loop && !name.contains("://") && gotFrame {
                lock.lock(); atEnd = true; lock.unlock()
                onEvent(.lost("end of \(name)")); return
            }
            onEvent(.lost("ffmpeg exited (status \(p.terminationStatus)); restarting"))
            Thread.sleep(forTimeInterval: backoff.next())
        }
    }
}
