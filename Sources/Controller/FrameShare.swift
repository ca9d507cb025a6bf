import Capture
import FaceKit
import Foundation
import Glibc
import WardenCore

/// The newest frame of each door's camera, kept by the door loop for `FrameShareServer`.
public final class LatestFrames: @unchecked Sendable {
    private let lock = NSLock()
    private var frames: [String: Frame] = [:]
    public init() {}
    func put(_ door: String, _ f: Frame) { lock.withLock { frames[door] = f } }
    public func get(_ door: String) -> Frame? { lock.withLock { frames[door] } }
}

/// A running controller lends its doors' cameras to `warden enroll --camera DOOR` over an
/// owner-only Unix socket (`<home>/frames.sock`): the controller keeps the device, and
/// the enrollment reads the newest frame. A request is the door id and a newline; the
/// answer is `FRAME <width> <height> <sequence>\n` and the RGB bytes, or `ERROR <why>\n`.
/// The door goes on deciding meanwhile.
public final class FrameShareServer: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    public init(path: String, frames: LatestFrames, doors: Set<String>) throws {
        self.path = path
        // Faces are personal data: owner-only, as the status socket.
        let fd = try LocalSocket.listen(path: path, what: "frame socket", backlog: 4)
        self.fd = fd
        let t = Thread { [fd] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { if errno == EINTR { continue }; return }
                // A client that never writes or never reads must not hold this thread.
                var tv = timeval(tv_sec: 1, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                var request = [UInt8]()
                var byte: UInt8 = 0
                while request.count < 128, read(c, &byte, 1) == 1, byte != 10 { request.append(byte) }
                let door = String(decoding: request, as: UTF8.self)
                let reply: [UInt8]
                if !doors.contains(door) {
                    reply = Array("ERROR no door '\(String(door.prefix(64)).filter { $0.isASCII && !$0.isNewline })' on this controller\n".utf8)
                } else if let f = frames.get(door) {
                    reply = Array("FRAME \(f.image.width) \(f.image.height) \(f.sequence)\n".utf8) + f.image.pixels
                } else {
                    reply = Array("ERROR door \(door) has no camera frame yet (no camera, or it is faulted)\n".utf8)
                }
                LocalSocket.sendAll(c, reply)
                close(c)
            }
        }
        t.name = "warden.frames"
        t.start()
    }

    public func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd); unlink(path) }
}

/// A door's camera, borrowed from the controller running it (`FrameShareServer`).
public final class SharedDoorCamera: FrameSource {
    public let name: String
    let path: String
    let door: String
    let fps: Double
    let clock: any WardenClock
    private var lastSequence: Int?
    private var nextDue = Date.distantPast

    public init(path: String, door: String, fps: Double = 8, clock: any WardenClock = SystemClock()) {
        self.path = path; self.door = door; self.fps = fps; self.clock = clock; self.name = "door \(door)"
    }

    public var deliversContinuously: Bool { true }

    public func nextFrame() throws -> Frame? {
        guard clock.now >= nextDue else { return nil }
        nextDue = clock.now.addingTimeInterval(1 / fps)
        let (header, body) = try Self.request(path: path, door: door)
        let parts = header.split(separator: " ")
        if parts.first == "ERROR" { throw CaptureError.unreadable(name, String(header.dropFirst(6))) }
        guard parts.count == 4, parts[0] == "FRAME", let w = Int(parts[1]), let h = Int(parts[2]), let seq = Int(parts[3]), body.count == w * h * 3 else {
            throw CaptureError.unreadable(name, "the controller's answer was not a frame")
        }
        // The same frame again (the camera is slower than the polling): nothing new.
        if seq == lastSequence { return nil }
        lastSequence = seq
        return Frame(image: try RGBImage(width: w, height: h, pixels: body), at: clock.now, sequence: seq)
    }

    /// Whether a controller lends cameras at `path`.
    public static func available(path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func request(path: String, door: String) throws -> (String, [UInt8]) {
        let fd: Int32
        do { fd = try LocalSocket.connect(path: path, what: "running controller lending its cameras") } catch {
            throw CaptureError.unreadable(path, "\(error)")
        }
        defer { close(fd) }
        LocalSocket.sendAll(fd, Array((door + "\n").utf8))
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > 64 << 20 { throw CaptureError.unreadable(path, "the controller's answer is too large") }
        }
        guard let nl = out.firstIndex(of: 10) else { throw CaptureError.unreadable(path, "the controller gave no answer") }
        return (String(decoding: out[..<nl], as: UTF8.self), Array(out[(nl + 1)...]))
    }
}
