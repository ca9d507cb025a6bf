import CV4L2
import FaceKit
import Foundation
import WardenCore

/// A V4L2 camera through libv4l2: `/dev/videoN`, or a `/dev/v4l/by-id/...` path so the
/// camera's identity is pinned. Asks for RGB24 at the given size and rate (libv4l2
/// converts from MJPEG or YUYV), streams with mmap buffers on its own thread, and survives
/// an unplug: it closes, retries with back-off, and reports `lost` and `restored`.
public final class V4L2Source: FrameSource, @unchecked Sendable {
    public let name: String
    public var deliversContinuously: Bool { true }
    public let width: Int
    public let height: Int
    public let fps: Int
    private let clock: any WardenClock
    private let latest = LatestFrame()
    private let onEvent: @Sendable (CaptureEvent) -> Void
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?
    private var sequence = 0

    public init(device: String, width: Int = 640, height: Int = 480, fps: Int = 10, clock: any WardenClock = SystemClock(),
                onEvent: @escaping @Sendable (CaptureEvent) -> Void = { _ in }) {
        self.name = device; self.width = width; self.height = height; self.fps = fps; self.clock = clock; self.onEvent = onEvent
        let t = Thread { [weak self] in self?.run() }
        t.name = "warden.capture.v4l2"
        thread = t
        t.start()
    }

    public var droppedFrames: Int { latest.droppedCount }
    public func nextFrame() throws -> Frame? { latest.take() }
    public func stop() { lock.lock(); stopping = true; lock.unlock() }
    deinit { stop() }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func run() {
        var backoff = Backoff()
        var everStarted = false
        while !isStopping {
            do {
                try stream { if !everStarted { everStarted = true; self.onEvent(.started(self.name)) } else { self.onEvent(.restored) }; backoff.reset() }
            } catch {
                onEvent(.lost("\(error)"))
            }
            if isStopping { return }
            Thread.sleep(forTimeInterval: backoff.next())
        }
    }

    /// Opens, configures and streams until an error or stop.
    private func stream(started: () -> Void) throws {
        let dev = try V4L2Device.open(name)
        defer { cv4l2_close(dev.fd) }
        var w: UInt32 = 0, h: UInt32 = 0, stride: UInt32 = 0, fourcc: UInt32 = 0
        guard cv4l2_set_rgb24(dev.fd, UInt32(width), UInt32(height), &w, &h, &stride, &fourcc) == 0 else { throw V4L2Error.io(name, "cannot set RGB24 \(width)x\(height)", cv4l2_errno()) }
        _ = cv4l2_set_fps(dev.fd, UInt32(fps))
        let count = cv4l2_request_buffers(dev.fd, 4)
        guard count > 0 else { throw V4L2Error.io(name, "cannot get mmap buffers", cv4l2_errno()) }
        var buffers: [(UnsafeMutableRawPointer, Int)] = []
        defer { for (p, l) in buffers { _ = cv4l2_unmap(p, l) } }
        for i in 0..<UInt32(count) {
            var len = 0
            guard let p = cv4l2_map_buffer(dev.fd, i, &len), p != UnsafeMutableRawPointer(bitPattern: -1) else {
                throw V4L2Error.io(name, "cannot map buffer \(i)", cv4l2_errno())
            }
            buffers.append((p, len))
            guard cv4l2_queue(dev.fd, i) == 0 else { throw V4L2Error.io(name, "cannot queue buffer \(i)", cv4l2_errno()) }
        }
        guard cv4l2_stream(dev.fd, 1) == 0 else { throw V4L2Error.io(name, "cannot start streaming", cv4l2_errno()) }
        defer { _ = cv4l2_stream(dev.fd, 0) }
        var announced = false
        let rowBytes = Int(w) * 3
        // Many devices ignore the requested rate (HDMI grabbers run at their signal's 60 Hz):
        // frames sooner than the door asked for are handed back unread, which saves a
        // 900 KB copy each on a small board.
        let interval = 1 / Double(max(1, fps)) * 0.9
        var lastDelivered: Date? = nil
        while !isStopping {
            var pfd = pollfd(fd: dev.fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 1000)
            if r < 0 { if errno == EINTR { continue }; throw V4L2Error.io(name, "poll failed", errno) }
            if r == 0 { continue }
            if pfd.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { throw V4L2Error.io(name, "device gone", ENODEV) }
            var index: UInt32 = 0, used: UInt32 = 0
            guard cv4l2_dequeue(dev.fd, &index, &used) == 0 else {
                let e = cv4l2_errno()
                if e == EAGAIN { continue }
                throw V4L2Error.io(name, "cannot dequeue a frame", e)
            }
            let now = clock.now
            if let last = lastDelivered, now.timeIntervalSince(last) < interval {
                guard cv4l2_queue(dev.fd, index) == 0 else { throw V4L2Error.io(name, "cannot requeue a buffer", cv4l2_errno()) }
                continue
            }
            let (p, _) = buffers[Int(index)]
            var pixels = [UInt8](repeating: 0, count: rowBytes * Int(h))
            let s = Int(stride) >= rowBytes ? Int(stride) : rowBytes
            if Int(used) >= s * (Int(h) - 1) + rowBytes {
                pixels.withUnsafeMutableBytes { dst in
                    for y in 0..<Int(h) { dst.baseAddress!.advanced(by: y * rowBytes).copyMemory(from: p.advanced(by: y * s), byteCount: rowBytes) }
                }
                if let image = try? RGBImage(width: Int(w), height: Int(h), pixels: pixels) {
                    latest.put(Frame(image: image, at: now, sequence: sequence))
                    lastDelivered = now
                    sequence += 1
                    if !announced { announced = true; started() }
                }
            }
            guard cv4l2_queue(dev.fd, index) == 0 else { throw V4L2Error.io(name, "cannot requeue a buffer", cv4l2_errno()) }
        }
    }
}

public enum V4L2Error: Error, CustomStringConvertible, Sendable, Equatable {
    case cannotOpen(String, Int32)
    case notACaptureDevice(String)
    case io(String, String, Int32)
    public var description: String {
        switch self {
        case .cannotOpen(let d, let e): return "cannot open \(d): \(String(cString: strerror(e)))"
        case .notACaptureDevice(let d): return "\(d) is not a video capture device"
        case .io(let d, let what, let e): return "\(d): \(what): \(String(cString: strerror(e)))"
        }
    }
}

/// A capture device and what it offers, for `warden camera list`.
public struct V4L2Device: Sendable, Codable {
    public struct Format: Sendable, Codable { public var fourcc: String; public var description: String; public var sizes: [String] }
    public var path: String
    public var card: String
    public var driver: String
    public var busInfo: String
    public var formats: [Format]
    let fd: Int32

    enum CodingKeys: String, CodingKey { case path, card, driver, busInfo, formats }
    public init(from decoder: Decoder) throws { throw V4L2Error.notACaptureDevice("decoded") }
    init(path: String, card: String, driver: String, busInfo: String, formats: [Format], fd: Int32) {
        self.path = path; self.card = card; self.driver = driver; self.busInfo = busInfo; self.formats = formats; self.fd = fd
    }

    static func open(_ path: String) throws -> V4L2Device {
        let fd = cv4l2_open(path)
        guard fd >= 0 else { throw V4L2Error.cannotOpen(path, cv4l2_errno()) }
        var cap = v4l2_capability()
        guard cv4l2_querycap(fd, &cap) == 0 else { cv4l2_close(fd); throw V4L2Error.notACaptureDevice(path) }
        let caps = (cap.capabilities & cv4l2_cap_device_caps()) != 0 ? cap.device_caps : cap.capabilities
        guard caps & cv4l2_cap_video_capture() != 0 else { cv4l2_close(fd); throw V4L2Error.notACaptureDevice(path) }
        func text<T>(_ t: T) -> String { withUnsafeBytes(of: t) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        return V4L2Device(path: path, card: text(cap.card), driver: text(cap.driver), busInfo: text(cap.bus_info), formats: [], fd: fd)
    }

    /// Every capture device under /dev (video nodes that are not capture devices, such as
    /// metadata or output nodes, are skipped).
    public static func list() -> [V4L2Device] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter { $0.hasPrefix("video") }.sorted()
        return names.compactMap { n -> V4L2Device? in
            guard var d = try? open("/dev/" + n) else { return nil }
            defer { cv4l2_close(d.fd) }
            var i: UInt32 = 0
            var fourcc: UInt32 = 0
            var desc = [CChar](repeating: 0, count: 64)
            while cv4l2_enum_format(d.fd, i, &fourcc, &desc, desc.count) == 0 {
                var sizes: [String] = []
                var j: UInt32 = 0, w: UInt32 = 0, h: UInt32 = 0
                while j < 32, cv4l2_enum_size(d.fd, fourcc, j, &w, &h) == 0 { sizes.append("\(w)x\(h)"); j += 1 }
                let cc = String(bytes: (0..<4).map { UInt8((fourcc >> (8 * $0)) & 0xFF) }, encoding: .ascii) ?? "?"
                d.formats.append(Format(fourcc: cc, description: String(cString: desc), sizes: sizes))
                i += 1
            }
            return d
        }
    }
}
