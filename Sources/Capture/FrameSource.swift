import FaceKit
import Foundation
import WardenCore

/// One camera frame.
public struct Frame: Sendable {
    public var image: RGBImage
    public var at: Date
    public var sequence: Int
    public init(image: RGBImage, at: Date, sequence: Int) { self.image = image; self.at = at; self.sequence = sequence }
}

/// Anything that delivers frames: a V4L2 camera, a video through ffmpeg, a folder of
/// images. `nextFrame` returns nil when no frame is due yet (or the source has ended).
public protocol FrameSource: AnyObject {
    var name: String { get }
    func nextFrame() throws -> Frame?
    /// Ends capture (threads, child processes). Sources with none need not implement it.
    func stop()
    /// A live camera delivers frames continuously; a gap of seconds means it is lost or
    /// stalled. Played-back sources (image folders, scripted scenes) have gaps by design.
    var deliversContinuously: Bool { get }
    /// No frame will come any more (a played-back sequence or file at its end).
    var ended: Bool { get }
}

extension FrameSource {
    public func stop() {}
    public var deliversContinuously: Bool { false }
    public var ended: Bool { false }
}

public enum CaptureError: Error, CustomStringConvertible, Sendable {
    case emptySequence(String)
    case unreadable(String, String)
    public var description: String {
        switch self {
        case .emptySequence(let p): return "no images in \(p)"
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        }
    }
}

/// Plays a list of images as a camera would, at a fixed rate on a clock. The demo and the
/// tests use it; `loop` repeats the sequence.
public final class ImageSequenceSource: FrameSource {
    public let name: String
    public let fps: Double
    public let loop: Bool
    private let frames: [RGBImage]
    private let clock: any WardenClock
    private var index = 0
    private var nextDue: Date?

    public init(name: String, images: [RGBImage], fps: Double, loop: Bool = false, clock: any WardenClock) {
        self.name = name; self.frames = images; self.fps = fps; self.loop = loop; self.clock = clock
    }

    /// Reads every image in `folder` (sorted by name), framed to `width` x `height` as a
    /// camera of that resolution would frame it.
    public convenience init(folder: String, fps: Double, width: Int = 640, height: Int = 480, loop: Bool = false, clock: any WardenClock) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.sorted() ?? []
        var images: [RGBImage] = []
        for n in names where !n.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(n)
            do { images.append(try RGBImage(contentsOf: path, limits: ImageLimits(strict: false)).letterboxed(width: width, height: height, padding: .edge)) }
            catch { throw CaptureError.unreadable(path, "\(error)") }
        }
        guard !images.isEmpty else { throw CaptureError.emptySequence(folder) }
        self.init(name: folder, images: images, fps: fps, loop: loop, clock: clock)
    }

    public var remaining: Int { loop ? .max : frames.count - index }
    public var ended: Bool { remaining <= 0 }

    public func nextFrame() throws -> Frame? {
        let now = clock.now
        if let due = nextDue, now < due { return nil }
        guard index < frames.count || loop, !frames.isEmpty else { return nil }
        let image = frames[index % frames.count]
        let frame = Frame(image: image, at: now, sequence: index)
        index += 1
        nextDue = (nextDue ?? now).addingTimeInterval(1 / fps)
        if let due = nextDue, due < now { nextDue = now.addingTimeInterval(1 / fps) }
        return frame
    }
}

/// Watches a feed for the faults that make face recognition silently useless: a frozen
/// picture, a black (covered, dark) or saturated (blinded) image.
public struct CameraHealth: Sendable {
    public enum Fault: String, Sendable, Equatable {
        case frozen, black, saturated
        /// No frame at all for a while from a live camera (unplugged, stream dropped).
        case noSignal = "no_signal"
    }
    /// A picture is frozen after this many identical frames in a row...
    public var frozenAfter: Int
    /// ...spanning at least this long, when frame times are given. A camera delivering
    /// faster than its scene changes (or a capture loop repeating its last frame) repeats
    /// frames briefly; a frozen feed stays the same for seconds.
    public var frozenFor: TimeInterval
    private var lastSignature: UInt64?
    private var repeats = 0
    private var sameSince: Date?
    public private(set) var fault: Fault?

    public init(frozenAfter: Int = 25, frozenFor: TimeInterval = 3) { self.frozenAfter = frozenAfter; self.frozenFor = frozenFor }

    /// Examines a frame taken at `at` (nil: count frames only); returns a fault that just
    /// started or `.some(nil)` when one just cleared, nil when nothing changed.
    public mutating func check(_ image: RGBImage, at: Date? = nil) -> Fault?? {
        var sum = 0, count = 0
        var hash: UInt64 = 1469598103934665603
        let step = max(1, image.pixels.count / 4096)
        var i = 0
        while i < image.pixels.count {
            let v = image.pixels[i]
            sum += Int(v); count += 1
            hash = (hash ^ UInt64(v)) &* 1099511628211
            i += step
        }
        let mean = Double(sum) / Double(max(1, count))
        if hash == lastSignature { repeats += 1 } else { repeats = 0; sameSince = at }
        lastSignature = hash
        let longEnough = at.map { t in sameSince.map { t.timeIntervalSince($0) >= frozenFor } ?? true } ?? true
        let now: Fault? = mean < 8 ? .black : mean > 247 ? .saturated : repeats >= frozenAfter && longEnough ? .frozen : nil
        defer { fault = now }
        if now != fault { return .some(now) }
        return nil
    }
}

/// A camera whose view a test or demo changes: show it one person, then another, then
/// nobody.
public final class SceneCamera: FrameSource {
    public let name: String
    public var current: (any FrameSource)?
    public init(name: String) { self.name = name }
    public func nextFrame() throws -> Frame? { try current?.nextFrame() }
}
