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
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SiteConfigError(problems: ["cannot create the frame socket"]) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw SiteConfigError(problems: ["frame socket path too long: \(path)"]) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        // Faces are personal data: owner-only from the moment the socket exists.
        let old = umask(0o077)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard bound == 0, listen(fd, 4) == 0 else { close(fd); throw SiteConfigError(problems: ["cannot listen on \(path): \(String(cString: strerror(errno)))"]) }
        chmod(path, 0o600)
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
                var offset = 0
                while offset < reply.count {
                    let n = reply.withUnsafeBytes { send(c, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    offset += n
                }
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
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CaptureError.unreadable(path, "cannot create a socket") }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in Array(path.utf8).prefix(raw.count - 1).enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else { throw CaptureError.unreadable(path, "no running controller lends its cameras here (\(String(cString: strerror(errno))))") }
        let line = Array((door + "\n").utf8)
        _ = line.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
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
