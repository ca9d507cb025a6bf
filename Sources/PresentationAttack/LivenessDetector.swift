import COpenCV
import FaceKit
import Foundation

public enum LivenessEngineError: Error, CustomStringConvertible, Sendable, Equatable {
    case models(PADModelError)
    case model(String)
    case invalidArgument(String)
    case outOfMemory
    case `internal`(String)

    public var description: String {
        switch self {
        case .models(let e): return e.description
        case .model(let s): return "\(s)\nReinstall the presentation-attack models: `warden pad models` lists their sources and SHA-256 (docs/liveness.md)."
        case .invalidArgument(let s): return "invalid input to presentation-attack detection: \(s)"
        case .outOfMemory: return "out of memory in presentation-attack detection"
        case .internal(let s): return "presentation-attack detection error: \(s)"
        }
    }

    init(_ err: cocv_error) {
        let message = withUnsafeBytes(of: err.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch err.code {
        case Int32(COCV_ERR_MODEL.rawValue): self = .model(message)
        case Int32(COCV_ERR_ARGUMENT.rawValue): self = .invalidArgument(message)
        case Int32(COCV_ERR_NO_MEMORY.rawValue): self = .outOfMemory
        default: self = .internal(message)
        }
    }
}

/// A face box in image pixels with fractional edges: left, top, width, height.
public struct PADBox: Sendable, Equatable, Codable {
    public var x, y, width, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) { self.x = x; self.y = y; self.width = width; self.height = height }
    public init(_ b: FaceBox) { self.init(x: Double(b.left), y: Double(b.top), width: Double(b.width), height: Double(b.height)) }
    public var centerX: Double { x + width / 2 }
    public var centerY: Double { y + height / 2 }

    public func iou(_ o: PADBox) -> Double {
        let l = max(x, o.x), t = max(y, o.y), r = min(x + width, o.x + o.width), b = min(y + height, o.y + o.height)
        guard r > l, b > t else { return 0 }
        let inter = (r - l) * (b - t)
        return inter / (width * height + o.width * o.height - inter)
    }
}

/// How Warden's face box is turned into the box the MiniFASNet pair was trained on.
///
/// The pair learned from the boxes of upstream's RetinaFace detector, which reach from the
/// forehead to below the chin; dlib's HOG box is tighter and sits lower. Each model crops
/// its box scaled by 2.7 or 4.0, so the framing decides how much of the surroundings (the
/// edge of a phone or a sheet) the model sees. The mapping is the median RetinaFace box
/// relative to the HOG box of the same face, measured on ../shared/faces with
/// `warden pad framing` (docs/liveness.md records the measurement).
public struct PADFraming: Sendable, Equatable, Codable {
    /// The centre's offset from the HOG box's centre, in HOG box widths.
    public var centerX: Double
    public var centerY: Double
    /// The size, in HOG box widths.
    public var width: Double
    public var height: Double

    public init(centerX: Double, centerY: Double, width: Double, height: Double) {
        self.centerX = centerX; self.centerY = centerY; self.width = width; self.height = height
    }

    /// The HOG box as it is.
    public static let hogBox = PADFraming(centerX: 0, centerY: 0, width: 1, height: 1)
    /// The RetinaFace framing, measured (see the type's comment).
    public static let retinaFace = PADFraming(centerX: 0.005, centerY: 0.007, width: 1.046, height: 1.082)

    public func box(for face: FaceBox) -> PADBox {
        let b = PADBox(face)
        let w = b.width * width, h = b.width * height
        return PADBox(x: b.centerX + centerX * b.width - w / 2, y: b.centerY + centerY * b.width - h / 2, width: w, height: h)
    }
}

/// One face's presentation-attack scores: each model's softmax over its three classes
/// (index 1 bona fide; 0 and 2 the attack classes).
public struct LivenessScore: Sendable, Equatable, Codable {
    public var v2: [Double]
    public var v1se: [Double]
    /// The pair's bona fide score: the geometric mean of the two models' bona fide
    /// probabilities, so both must agree. Measured against upstream's arithmetic mean on
    /// ../shared/faces and the real samples (docs/liveness.md): at the threshold that holds
    /// BPCER at 5% per photo, the arithmetic mean let the screen sample through and the
    /// geometric mean refuses both the print and the screen.
    public var bonaFide: Double { (v2[1] * v1se[1]).squareRoot() }
    /// Upstream's own call: bona fide when class 1 has the largest mean probability.
    public var upstreamSaysLive: Bool {
        let m = (0..<3).map { (v2[$0] + v1se[$0]) / 2 }
        return m[1] >= m[0] && m[1] >= m[2]
    }
    public init(v2: [Double], v1se: [Double]) { self.v2 = v2; self.v1se = v1se }
}

/// Passive presentation-attack detection on one face at a time: the MiniFASNetV2 and
/// MiniFASNetV1SE pair through OpenCV's DNN module.
///
/// Not thread-safe (see `copencv.h`): give each inference thread its own detector.
public final class LivenessDetector: @unchecked Sendable {
    private let handle: OpaquePointer
    public let directory: String
    public let framing: PADFraming
    /// The crop scales upstream trained with (in the file names).
    public static let v2Scale: Float = 2.7
    public static let v1seScale: Float = 4.0

    /// Loads the pair from `directory` (already located and checked).
    public init(directory: String, framing: PADFraming = .retinaFace) throws(LivenessEngineError) {
        var err = cocv_error()
        let v2 = (directory as NSString).appendingPathComponent(PADModelFile.miniFASNetV2.rawValue)
        let v1se = (directory as NSString).appendingPathComponent(PADModelFile.miniFASNetV1SE.rawValue)
        let created = v2.withCString { a in v1se.withCString { b in cocv_pad_create(a, Self.v2Scale, b, Self.v1seScale, &err) } }
        guard let created else { throw LivenessEngineError(err) }
        handle = created
        self.directory = directory
        self.framing = framing
    }

    /// Finds the models with `locator`, checks their sums, and loads them.
    public convenience init(locator: PADModelLocator, framing: PADFraming = .retinaFace) throws(LivenessEngineError) {
        let dir: String
        do { dir = try locator.locate() } catch { throw .models(error) }
        try self.init(directory: dir, framing: framing)
    }

    deinit { cocv_pad_destroy(handle) }

    /// OpenCV's process-wide thread pool.
    public static func setThreads(_ n: Int) { cocv_set_threads(Int32(n)) }

    /// Scores a detected face, framed as the models were trained.
    public func score(_ image: RGBImage, face: Face) throws(LivenessEngineError) -> LivenessScore {
        try score(image, box: framing.box(for: face.box))
    }

    /// The smallest face box side scored: below it the 80x80 crop is mostly made-up pixels,
    /// and a score would be noise. A face that small is refused, so liveness stays unsure.
    public static let minimumFaceSide = 20.0

    /// Scores the face in `box` (already in the models' framing).
    public func score(_ image: RGBImage, box: PADBox) throws(LivenessEngineError) -> LivenessScore {
        guard box.width >= Self.minimumFaceSide, box.height >= Self.minimumFaceSide else {
            throw .invalidArgument(String(format: "the face is too small to check for a presentation attack (%.0fx%.0f px; at least %.0f px a side)",
                                          box.width, box.height, Self.minimumFaceSide))
        }
        var out = [Float](repeating: 0, count: 6)
        var err = cocv_error()
        let status = withImage(image) { img in out.withUnsafeMutableBufferPointer { cocv_pad_score(handle, img, Self.cbox(box), $0.baseAddress, &err) } }
        guard status == Int32(COCV_OK.rawValue) else { throw LivenessEngineError(err) }
        return LivenessScore(v2: out[0..<3].map(Double.init), v1se: out[3..<6].map(Double.init))
    }

    /// The 80x80 crop one model sees (0: V2, 1: V1SE), for looking at the framing.
    public func crop(_ image: RGBImage, box: PADBox, model: Int) throws(LivenessEngineError) -> RGBImage {
        let side = Int(COCV_PAD_INPUT)
        var out = [UInt8](repeating: 0, count: side * side * 3)
        var err = cocv_error()
        let status = withImage(image) { img in out.withUnsafeMutableBufferPointer { cocv_pad_crop(handle, img, Self.cbox(box), Int32(model), $0.baseAddress, &err) } }
        guard status == Int32(COCV_OK.rawValue) else { throw LivenessEngineError(err) }
        do { return try RGBImage(width: side, height: side, pixels: out) } catch { throw .internal("\(error)") }
    }

    static func cbox(_ b: PADBox) -> cocv_box { cocv_box(x: Float(b.x), y: Float(b.y), width: Float(b.width), height: Float(b.height)) }
}

/// Upstream's RetinaFace detector, for measuring framing (`warden pad framing`) and for
/// running upstream's own pipeline as a reference.
public final class RetinaFaceDetector: @unchecked Sendable {
    private let handle: OpaquePointer

    public init(directory: String) throws(LivenessEngineError) {
        var err = cocv_error()
        let proto = (directory as NSString).appendingPathComponent(PADModelFile.retinaFacePrototxt.rawValue)
        let model = (directory as NSString).appendingPathComponent(PADModelFile.retinaFaceModel.rawValue)
        let created = proto.withCString { a in model.withCString { b in cocv_retinaface_create(a, b, &err) } }
        guard let created else { throw LivenessEngineError(err) }
        handle = created
    }

    deinit { cocv_retinaface_destroy(handle) }

    /// The most confident face, or nil when none reaches `minimumConfidence` (upstream: 0.6).
    public func detect(_ image: RGBImage, minimumConfidence: Double = 0.6) throws(LivenessEngineError) -> (box: PADBox, confidence: Double)? {
        var box = cocv_box(), confidence: Float = 0, found: Int32 = 0
        var err = cocv_error()
        let status = withImage(image) { cocv_retinaface_detect(handle, $0, Float(minimumConfidence), &box, &confidence, &found, &err) }
        guard status == Int32(COCV_OK.rawValue) else { throw LivenessEngineError(err) }
        guard found != 0 else { return nil }
        return (PADBox(x: Double(box.x), y: Double(box.y), width: Double(box.width), height: Double(box.height)), Double(confidence))
    }
}

private func withImage<R>(_ image: RGBImage, _ body: (cocv_image) -> R) -> R {
    image.pixels.withUnsafeBufferPointer { buf in
        body(cocv_image(pixels: buf.baseAddress, width: Int32(image.width), height: Int32(image.height), stride: Int32(image.width * 3)))
    }
}
