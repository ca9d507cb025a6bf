import CDlibFace
import Foundation

public enum FaceEngineError: Error, Equatable, CustomStringConvertible, Sendable {
    case modelsNotFound(String)
    case model(String)
    case invalidArgument(String)
    case outOfMemory
    case unavailable(String)
    case `internal`(String)

    public var description: String {
        switch self {
        case .modelsNotFound(let s): return s
        case .model(let s): return "\(s)\nRun `make setup` to reinstall the model files."
        case .invalidArgument(let s): return "invalid input: \(s)"
        case .outOfMemory: return "out of memory in the face engine"
        case .unavailable(let s): return s
        case .internal(let s): return "face engine error: \(s)"
        }
    }

    init(_ err: cdf_error) {
        let message = withUnsafeBytes(of: err.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch err.code {
        case Int32(CDF_ERR_MODEL.rawValue): self = .model(message)
        case Int32(CDF_ERR_ARGUMENT.rawValue): self = .invalidArgument(message)
        case Int32(CDF_ERR_NO_MEMORY.rawValue): self = .outOfMemory
        case Int32(CDF_ERR_UNAVAILABLE.rawValue): self = .unavailable(message)
        default: self = .internal(message)
        }
    }
}

public enum FaceDetector: String, Sendable, CaseIterable, Codable {
    /// dlib's HOG + linear SVM frontal detector: fast on a CPU, frontal faces only.
    case hog
    /// dlib's MMOD CNN: more accurate on turned and small faces, several times slower.
    case cnn
}

public struct DetectionOptions: Sendable, Equatable {
    public var detector: FaceDetector
    /// How many times to double the image before detecting; each step finds faces half as
    /// large at about four times the cost. Door cameras see large faces: 0 is usually enough.
    public var upsample: Int
    /// Drop faces whose box is narrower than this many pixels.
    public var minimumFaceSize: Int
    /// The most faces reported for one image; the highest-scoring are kept.
    public var maximumFaces: Int
    /// Detect on a copy shrunk by a whole factor to at most this width (nil: full size).
    /// Detection cost grows with the pixel count, and a door camera's faces are large: at
    /// 1280x720 a face across the door is 200+ px wide, still 100+ px at half size. Landmarks
    /// and embeddings always use the full-size frame.
    ///
    /// The default bounds what a photo can cost: detection at upsample 1 works on twice the
    /// image's size, so a 40 MP photo (a 116 KB PNG can be one) cost 2.0 GB and 30 s at full
    /// size. Shrunk to at most 1600 px wide it costs a fraction of that, and the faces a photo
    /// is enrolled or matched from (40+ px between the eyes) stay far above HOG's window.
    public var maximumDetectionWidth: Int?
    public static let photoDetectionWidth = 1600

    public init(detector: FaceDetector = .hog, upsample: Int = 1, minimumFaceSize: Int = 0, maximumFaces: Int = 32,
                maximumDetectionWidth: Int? = DetectionOptions.photoDetectionWidth) {
        self.detector = detector
        self.upsample = upsample
        self.minimumFaceSize = minimumFaceSize
        self.maximumFaces = maximumFaces
        self.maximumDetectionWidth = maximumDetectionWidth
    }

    /// The whole factor a frame of this width is shrunk by before detection (1: not at all).
    public func detectionFactor(width: Int) -> Int {
        guard let limit = maximumDetectionWidth, limit > 0, width > limit else { return 1 }
        return (width + limit - 1) / limit
    }
}

/// The face engine: detection, landmarks, alignment and embeddings on dlib's models.
///
/// Not thread-safe (see `cdlibface.h`): dlib's networks keep per-pass state. Give each
/// worker thread its own engine, or guard one with a lock. It is `Sendable` only so that it
/// can be handed to the thread that will own it. One exception: detection (`detect`,
/// `landmarks`) and embedding (`embed`, `alignedChip`) use disjoint parts of the engine, so
/// one thread may detect while one other embeds (the door's two-stage inference).
public final class FaceEngine: @unchecked Sendable {
    private let handle: OpaquePointer
    public let models: ModelSet
    public let hasCNNDetector: Bool

    /// Loads the models from `models`. The CNN detector loads only when asked for, since it
    /// adds start-up time and memory that HOG-only doors do not need.
    public init(models: ModelSet, loadCNNDetector: Bool = false) throws(FaceEngineError) {
        var err = cdf_error()
        let cnnPath = loadCNNDetector ? models.path(.cnnDetector) : nil
        let created: OpaquePointer? = models.path(.landmarks).withCString { lm in
            models.path(.recognition).withCString { rec in
                if let cnnPath { return cnnPath.withCString { cdf_engine_create(lm, rec, $0, &err) } }
                return cdf_engine_create(lm, rec, nil, &err)
            }
        }
        guard let created else { throw FaceEngineError(err) }
        self.handle = created
        self.models = models
        self.hasCNNDetector = cdf_engine_has_cnn(created) != 0
    }

    /// Finds the models with `locator` and loads them.
    public convenience init(locator: ModelLocator, loadCNNDetector: Bool = false) throws(FaceEngineError) {
        let required: [ModelFile] = loadCNNDetector ? [.landmarks, .recognition, .cnnDetector] : [.landmarks, .recognition]
        let models: ModelSet
        do { models = try locator.locate(requiring: required) } catch { throw .modelsNotFound(error.description) }
        try self.init(models: models, loadCNNDetector: loadCNNDetector)
    }

    deinit { cdf_engine_destroy(handle) }

    public var modelID: String { ModelSet.recognitionModelID }

    /// How landmarks are fitted (the shim refits them from the box their first fit implies,
    /// `CDF_LANDMARK_REFITS` times): embeddings cached across runs are keyed by it as well as
    /// by the model, since the same photo embeds a little differently under another fit.
    public static let landmarkFitID = "refit\(CDF_LANDMARK_REFITS)"

    /// Faces in `image`, best score first, each with its five landmarks.
    public func detect(_ image: RGBImage, options: DetectionOptions = DetectionOptions()) throws(FaceEngineError) -> [Face] {
        try detect(image, options: options, within: nil)
    }

    /// The side of dlib's HOG detection window: at upsample 0, the smallest face box found.
    public static let hogWindow = 80

    /// Detection inside `region` only (nil: the whole frame), at the same scale as the whole
    /// frame would be detected: the door pipeline looks around the faces it tracks first.
    /// Boxes and landmarks come back in the frame's coordinates, landmarks fitted on the
    /// full frame.
    ///
    /// `shrink`: detect on a copy shrunk by at least this whole factor, for faces known to
    /// be large (a tracked face of 250 px is found as well at half size, for a quarter of
    /// the cost).
    public func detect(_ image: RGBImage, options: DetectionOptions, within region: FaceBox?, shrink: Int = 1) throws(FaceEngineError) -> [Face] {
        let k = max(options.detectionFactor(width: image.width), shrink)
        var source = image
        var origin = (x: 0, y: 0)
        if let region {
            // On the whole frame's grid of k x k blocks, so the shrunk crop holds the same
            // pixels as the same place in the shrunk frame, and of HOG's 8-pixel cells there.
            let grid = 8 * k
            let left = max(0, region.left) / grid * grid, top = max(0, region.top) / grid * grid
            let right = min(image.width, region.right + 1), bottom = min(image.height, region.bottom + 1)
            let w = (right - left) / k * k, h = (bottom - top) / k * k
            guard w > 0, h > 0 else { return [] }
            if w < image.width || h < image.height {
                source = image.cropped(left: left, top: top, width: w, height: h)
                origin = (left, top)
            }
        }
        guard k > 1 || origin != (0, 0) else { return try detectFullSize(image, options: options, withLandmarks: true) }
        var small = options
        small.maximumDetectionWidth = nil
        small.minimumFaceSize = options.minimumFaceSize / k
        // Boxes found on the small copy, scaled back; landmarks fitted on the full frame.
        return try detectFullSize(k > 1 ? source.downsampled(by: k) : source, options: small, withLandmarks: false).map { f throws(FaceEngineError) in
            let b = FaceBox(left: f.box.left * k + origin.x, top: f.box.top * k + origin.y,
                            right: f.box.right * k + k - 1 + origin.x, bottom: f.box.bottom * k + k - 1 + origin.y)
            var full = try landmarks(image, box: b)
            full.score = f.score
            return full
        }
    }

    private func detectFullSize(_ image: RGBImage, options: DetectionOptions, withLandmarks: Bool) throws(FaceEngineError) -> [Face] {
        let capacity = max(0, options.maximumFaces)
        var out = [cdf_face](repeating: cdf_face(), count: max(1, capacity))
        var count: Int32 = 0
        var err = cdf_error()
        let status = withImage(image) { img in
            out.withUnsafeMutableBufferPointer { buf in
                cdf_detect(handle, img, options.detector == .cnn ? CDF_DETECTOR_CNN : CDF_DETECTOR_HOG,
                           Int32(options.upsample), Int32(options.minimumFaceSize), buf.baseAddress, Int32(capacity), &count, withLandmarks ? 1 : 0, &err)
            }
        }
        // More faces than the cap is not an error: the best `capacity` are kept.
        guard status == Int32(CDF_OK.rawValue) || status == Int32(CDF_ERR_CAPACITY.rawValue) else { throw FaceEngineError(err) }
        return out.prefix(min(Int(count), capacity)).map(Face.init)
    }

    /// Fits landmarks inside a known box (for tight face crops the detector cannot see).
    public func landmarks(_ image: RGBImage, box: FaceBox) throws(FaceEngineError) -> Face {
        var face = cdf_face(Face(box: box, score: 0, landmarks: FaceLandmarks(rightEyeOuter: .init(x: 0, y: 0), rightEyeInner: .init(x: 0, y: 0),
                                                                             leftEyeOuter: .init(x: 0, y: 0), leftEyeInner: .init(x: 0, y: 0), noseBase: .init(x: 0, y: 0))))
        var err = cdf_error()
        let status = withImage(image) { cdf_landmarks(handle, $0, &face, &err) }
        guard status == Int32(CDF_OK.rawValue) else { throw FaceEngineError(err) }
        return Face(face)
    }

    /// The 150x150 chip the network sees: rotated, scaled and cropped from the landmarks.
    public func alignedChip(_ image: RGBImage, face: Face) throws(FaceEngineError) -> RGBImage {
        let side = Int(CDF_CHIP_SIZE)
        var chip = [UInt8](repeating: 0, count: side * side * 3)
        var cface = cdf_face(face)
        var err = cdf_error()
        let status = withImage(image) { img in chip.withUnsafeMutableBufferPointer { cdf_aligned_chip(handle, img, &cface, $0.baseAddress, &err) } }
        guard status == Int32(CDF_OK.rawValue) else { throw FaceEngineError(err) }
        return RGBImage(unchecked: side, side, chip)
    }

    /// One embedding for one face of `image`.
    public func embed(_ image: RGBImage, face: Face) throws(FaceEngineError) -> Embedding {
        try embed(image, faces: [face])[0]
    }

    /// Embeddings for several faces of one image, in one batched forward pass.
    public func embed(_ image: RGBImage, faces: [Face]) throws(FaceEngineError) -> [Embedding] {
        if faces.isEmpty { return [] }
        var cfaces = faces.map(cdf_face.init)
        var raw = [Float](repeating: 0, count: faces.count * Embedding.dimension)
        var err = cdf_error()
        let status = withImage(image) { img in
            raw.withUnsafeMutableBufferPointer { out in
                cdf_embed(handle, img, &cfaces, Int32(cfaces.count), out.baseAddress, &err)
            }
        }
        guard status == Int32(CDF_OK.rawValue) else { throw FaceEngineError(err) }
        return try toEmbeddings(raw, count: faces.count)
    }

    /// Embeddings for ready-aligned 150x150 chips (for example from `alignedChip`).
    public func embed(chips: [RGBImage]) throws(FaceEngineError) -> [Embedding] {
        if chips.isEmpty { return [] }
        let side = Int(CDF_CHIP_SIZE)
        guard chips.allSatisfy({ $0.width == side && $0.height == side }) else {
            throw .invalidArgument("chips must be \(side)x\(side)")
        }
        let packed = chips.flatMap(\.pixels)
        var raw = [Float](repeating: 0, count: chips.count * Embedding.dimension)
        var err = cdf_error()
        let status = packed.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { cdf_embed_chips(handle, src.baseAddress, Int32(chips.count), $0.baseAddress, &err) }
        }
        guard status == Int32(CDF_OK.rawValue) else { throw FaceEngineError(err) }
        return try toEmbeddings(raw, count: chips.count)
    }

    private func toEmbeddings(_ raw: [Float], count: Int) throws(FaceEngineError) -> [Embedding] {
        var result: [Embedding] = []
        for i in 0..<count {
            let slice = Array(raw[(i * Embedding.dimension)..<((i + 1) * Embedding.dimension)])
            do { result.append(try Embedding(raw: slice, modelID: modelID)) } catch { throw .internal(error.description) }
        }
        return result
    }

    private func withImage<R>(_ image: RGBImage, _ body: (cdf_image) -> R) -> R {
        image.pixels.withUnsafeBufferPointer { buf in
            body(cdf_image(pixels: buf.baseAddress, width: Int32(image.width), height: Int32(image.height), stride: Int32(image.width * 3)))
        }
    }
}

extension Face {
    init(_ c: cdf_face) {
        let l = withUnsafeBytes(of: c.landmarks) { Array($0.bindMemory(to: Float.self)) }
        let p = { (i: Int) in Point(x: Double(l[2 * i]), y: Double(l[2 * i + 1])) }
        self.init(box: FaceBox(left: Int(c.left), top: Int(c.top), right: Int(c.right), bottom: Int(c.bottom)),
                  score: Double(c.score),
                  landmarks: FaceLandmarks(rightEyeOuter: p(0), rightEyeInner: p(1), leftEyeOuter: p(2), leftEyeInner: p(3), noseBase: p(4)))
    }
}

extension cdf_face {
    init(_ f: Face) {
        self.init()
        left = Int32(f.box.left); top = Int32(f.box.top); right = Int32(f.box.right); bottom = Int32(f.box.bottom)
        score = Float(f.score)
        let pts = f.landmarks.points
        withUnsafeMutableBytes(of: &landmarks) { raw in
            let fl = raw.bindMemory(to: Float.self)
            for i in 0..<5 { fl[2 * i] = Float(pts[i].x); fl[2 * i + 1] = Float(pts[i].y) }
        }
    }
}
