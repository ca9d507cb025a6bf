import COpenCV
import FaceKit
import Matching
import Foundation

/// SFace (opencv_zoo, 2021dec) behind the recognition port. Its input is a 112x112 face
/// aligned by five points: eye centres, nose tip, mouth corners. dlib's five points are eye
/// corners and the base of the nose, with no mouth, so another finder gives them
/// (`FivePointFinder`: dlib's 68-point predictor, or YuNet on the face's region). A face
/// whose points cannot be found has no SFace embedding.
///
/// Not thread-safe (OpenCV nets keep state between passes): one per thread.
public final class SFaceRecognizer: FaceRecognizer, @unchecked Sendable {
    public static let modelID = "opencv_zoo_sface_2021dec"
    public var modelID: String { Self.modelID }

    private let sface: OpaquePointer
    public let pointFinder: any FivePointFinder

    public init(sfacePath: String, points: any FivePointFinder) throws(FaceEngineError) {
        var err = cocv_error()
        guard let s = cocv_sface_create(sfacePath, &err) else { throw Self.error(err) }
        sface = s
        pointFinder = points
    }

    /// SFace from the locator, checked, aligned by `points`.
    public convenience init(locator: RecognitionModelLocator, points: any FivePointFinder) throws(RecognitionModelError) {
        let s = try locator.locate(.sface)
        do { try self.init(sfacePath: s, points: points) } catch {
            throw RecognitionModelError(file: .sface, problem: .unreadable(error.description), searched: [(s as NSString).deletingLastPathComponent])
        }
    }

    deinit { cocv_sface_destroy(sface) }

    /// Names the alignment, for caches of embeddings.
    public var alignmentID: String { pointFinder.methodID }

    public func points(_ image: RGBImage, face: Face) throws(FaceEngineError) -> [Float]? {
        try pointFinder.points(image, face: face)
    }

    public func embed(_ image: RGBImage, face: Face) throws(FaceEngineError) -> Embedding {
        guard let p = try points(image, face: face) else {
            throw .invalidArgument("SFace: no five points (\(pointFinder.methodID)) where dlib found the face, so there is nothing to align it by")
        }
        return try embed(image, points: p)
    }

    /// The embedding of the face aligned by `points` (ten numbers: five x, y pairs).
    public func embed(_ image: RGBImage, points: [Float]) throws(FaceEngineError) -> Embedding {
        guard points.count == 10 else { throw .invalidArgument("SFace needs five points") }
        var out = [Float](repeating: 0, count: Int(COCV_SFACE_DIM))
        var err = cocv_error()
        let status = image.pixels.withUnsafeBufferPointer { px in
            points.withUnsafeBufferPointer { pts in
                cocv_sface_embed(sface, cocv_image(pixels: px.baseAddress, width: Int32(image.width), height: Int32(image.height), stride: Int32(image.width * 3)),
                                 pts.baseAddress, &out, &err)
            }
        }
        guard status == 0 else { throw Self.error(err) }
        do { return try Embedding(raw: out, modelID: Self.modelID) } catch { throw .internal("SFace gave an unusable vector: \(error)") }
    }

    /// The 112x112 face SFace sees, for a person to look at.
    public func alignedFace(_ image: RGBImage, points: [Float]) throws(FaceEngineError) -> RGBImage {
        guard points.count == 10 else { throw .invalidArgument("SFace needs five points") }
        var out = [UInt8](repeating: 0, count: 112 * 112 * 3)
        var err = cocv_error()
        let status = image.pixels.withUnsafeBufferPointer { px in
            points.withUnsafeBufferPointer { pts in
                cocv_sface_aligned(sface, cocv_image(pixels: px.baseAddress, width: Int32(image.width), height: Int32(image.height), stride: Int32(image.width * 3)),
                                   pts.baseAddress, &out, &err)
            }
        }
        guard status == 0 else { throw Self.error(err) }
        do { return try RGBImage(width: 112, height: 112, pixels: out) } catch { throw .internal("\(error)") }
    }

    static func error(_ err: cocv_error) -> FaceEngineError {
        let message = withUnsafeBytes(of: err.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch err.code {
        case Int32(COCV_ERR_MODEL.rawValue): return .model(message)
        case Int32(COCV_ERR_ARGUMENT.rawValue): return .invalidArgument(message)
        default: return .internal(message)
        }
    }
}

/// The five points from YuNet, run on the region around the face dlib found (the box grown
/// by `regionGrowth` on every side, shrunk to at most `regionSide` pixels): its face
/// overlapping dlib's box best gives them. YuNet's file is not in any package registry: a
/// site copies it (`RecognitionModelFile.yunet`).
///
/// Not thread-safe: one per thread.
public final class YuNetPoints: FivePointFinder, @unchecked Sendable {
    /// How much of the face's surroundings YuNet sees, per side, in face-box widths.
    public static let regionGrowth = 0.6
    /// YuNet's input side for the region: faces of 10-300 px are in its range.
    public static let regionSide = 240
    /// YuNet's face must overlap dlib's at least this much (intersection over union).
    public static let minimumOverlap = 0.3
    static let scoreThreshold: Float = 0.6

    public var methodID: String { "yunet2022mar-g\(Self.regionGrowth)-s\(Self.regionSide)" }
    private let yunet: OpaquePointer

    public init(path: String) throws(FaceEngineError) {
        var err = cocv_error()
        guard let y = cocv_yunet_create(path, &err) else { throw SFaceRecognizer.error(err) }
        yunet = y
    }

    public convenience init(locator: RecognitionModelLocator) throws(RecognitionModelError) {
        let y = try locator.locate(.yunet)
        do { try self.init(path: y) } catch {
            throw RecognitionModelError(file: .yunet, problem: .unreadable(error.description), searched: [(y as NSString).deletingLastPathComponent])
        }
    }

    deinit { cocv_yunet_destroy(yunet) }

    public func points(_ image: RGBImage, face: Face) throws(FaceEngineError) -> [Float]? {
        let b = face.box
        let grow = Double(max(b.width, b.height)) * Self.regionGrowth
        let region = cocv_box(x: Float(Double(b.left) - grow), y: Float(Double(b.top) - grow),
                              width: Float(Double(b.width) + 2 * grow), height: Float(Double(b.height) + 2 * grow))
        let clipped = Self.clip(region, width: image.width, height: image.height)
        var rows = [Float](repeating: 0, count: 15 * 8)
        var found: Int32 = 0
        var err = cocv_error()
        let status = image.pixels.withUnsafeBufferPointer { px in
            cocv_yunet_detect(yunet, cocv_image(pixels: px.baseAddress, width: Int32(image.width), height: Int32(image.height), stride: Int32(image.width * 3)),
                              clipped, Int32(Self.regionSide), Self.scoreThreshold, &rows, 8, &found, &err)
        }
        guard status == 0 else { throw SFaceRecognizer.error(err) }
        var best: (iou: Double, index: Int)? = nil
        for i in 0..<Int(found) {
            let r = rows[(15 * i)..<(15 * i + 4)].map(Double.init)
            let iou = Self.iou((Double(b.left), Double(b.top), Double(b.width), Double(b.height)), (r[0], r[1], r[2], r[3]))
            if iou >= Self.minimumOverlap && iou > (best?.iou ?? 0) { best = (iou, i) }
        }
        guard let best else { return nil }
        return Array(rows[(15 * best.index + 4)..<(15 * best.index + 14)])
    }

    static func clip(_ r: cocv_box, width: Int, height: Int) -> cocv_box {
        let l = max(0, r.x), t = max(0, r.y)
        let rr = min(Float(width), r.x + r.width), bb = min(Float(height), r.y + r.height)
        return cocv_box(x: l, y: t, width: max(0, rr - l), height: max(0, bb - t))
    }

    static func iou(_ a: (Double, Double, Double, Double), _ b: (Double, Double, Double, Double)) -> Double {
        let l = max(a.0, b.0), t = max(a.1, b.1), r = min(a.0 + a.2, b.0 + b.2), btm = min(a.1 + a.3, b.1 + b.3)
        guard r > l, btm > t else { return 0 }
        let inter = (r - l) * (btm - t)
        return inter / (a.2 * a.3 + b.2 * b.3 - inter)
    }

}

extension SFaceRecognizer {
    /// How SFace's distances fuse with dlib's until `warden calibrate` fits a site's own:
    /// each model's impostor distribution and the fused score's, measured on ../shared/faces
    /// (36 identities, 771 images, every impostor pair; SFace aligned by dlib's 68 points;
    /// 2026-12-07, docs/accuracy.md).
    public static let measuredFusion = FusedMatching(
        fusion: ScoreFusion(models: [
            ModelSet.recognitionModelID: ImpostorModel(mean: 0.5632, standardDeviation: 0.0661, source: "../shared/faces, 771 images"),
            modelID: ImpostorModel(mean: 1.3402, standardDeviation: 0.0772, source: "../shared/faces, 771 images"),
        ]),
        fusedImpostors: ImpostorModel(mean: 0, standardDeviation: 0.8189, source: "../shared/faces, 771 images"))
}
