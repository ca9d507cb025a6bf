import CDlibFace

/// The five alignment points from dlib's 68-point predictor (iBUG 300-W layout), fitted in
/// the box dlib's detector found: the eye centres are the means of each eye's six points
/// (36-41 on the image's left, 42-47), the nose tip is point 30, the mouth corners 48 and 54.
/// The predictor ships in the same package as dlib's other models, so `make setup` installs
/// it by name.
///
/// Thread-safe: dlib's shape predictor only reads its trees, so one (100 MB) serves every
/// inference thread.
public final class Dlib68Points: FivePointFinder, @unchecked Sendable {
    public var methodID: String { "dlib68" }
    private let predictor: OpaquePointer

    public init(path: String) throws(FaceEngineError) {
        var err = cdf_error()
        guard let p = cdf_shape68_create(path, &err) else { throw FaceEngineError(err) }
        predictor = p
    }

    public convenience init(models: ModelSet) throws(FaceEngineError) {
        try self.init(path: models.path(.landmarks68))
    }

    deinit { cdf_shape68_destroy(predictor) }

    /// All 68 points: x, y pairs.
    public func fit(_ image: RGBImage, box: FaceBox) throws(FaceEngineError) -> [Float] {
        var out = [Float](repeating: 0, count: 136)
        var err = cdf_error()
        let status = image.pixels.withUnsafeBufferPointer { px in
            cdf_shape68_fit(predictor, cdf_image(pixels: px.baseAddress, width: Int32(image.width), height: Int32(image.height), stride: Int32(image.width * 3)),
                            Int32(box.left), Int32(box.top), Int32(box.right), Int32(box.bottom), &out, &err)
        }
        guard status == 0 else { throw FaceEngineError(err) }
        return out
    }

    public func points(_ image: RGBImage, face: Face) throws(FaceEngineError) -> [Float]? {
        let p = try fit(image, box: face.box)
        func mean(_ range: ClosedRange<Int>) -> (Float, Float) {
            let n = Float(range.count)
            return (range.reduce(0) { $0 + p[2 * $1] } / n, range.reduce(0) { $0 + p[2 * $1 + 1] } / n)
        }
        let right = mean(36...41), left = mean(42...47)
        return [right.0, right.1, left.0, left.1, p[60], p[61], p[96], p[97], p[108], p[109]]
    }
}
