import Foundation

/// How usable a face is for recognition, from its landmarks and its aligned chip.
public struct FaceQuality: Sendable, Equatable, Codable {
    /// Distance between the eye centres in the original image, pixels.
    public var interEyeDistance: Double
    /// Variance of the Laplacian of the aligned 150x150 chip's luma: high for crisp
    /// detail, low for blur. Measured on the chip so that it does not depend on image size.
    public var sharpness: Double
    /// Left-right turn estimated from the landmarks: the nose's horizontal offset from the
    /// eyes' midpoint, in units of the inter-eye distance, after removing roll. 0 is frontal;
    /// about ±0.3 is a clear three-quarter view.
    public var yaw: Double
    /// In-plane tilt of the eye line, degrees.
    public var roll: Double
    /// The detector's score.
    public var detectionScore: Double

    public init(interEyeDistance: Double, sharpness: Double, yaw: Double, roll: Double, detectionScore: Double) {
        self.interEyeDistance = interEyeDistance; self.sharpness = sharpness; self.yaw = yaw
        self.roll = roll; self.detectionScore = detectionScore
    }

    /// Measures a detected face; `chip` is its aligned chip from `FaceEngine.alignedChip`.
    public init(face: Face, chip: RGBImage) {
        let pose = FacePose(face.landmarks)
        self.init(interEyeDistance: face.landmarks.interEyeDistance, sharpness: Self.laplacianVariance(chip),
                  yaw: pose.yaw, roll: pose.roll, detectionScore: face.score)
    }

    /// Which of several faces of one person to prefer as a template: larger, sharper (up
    /// to where sharpness stops mattering) and more clearly a face. Camera enrollment and
    /// `warden eval --templates` rank by it alike.
    public var selectionScore: Double { interEyeDistance * min(sharpness, 400) * max(0.1, detectionScore) }

    /// Variance of the 4-neighbour Laplacian over the luma, borders excluded.
    public static func laplacianVariance(_ image: RGBImage) -> Double {
        let g = image.grayscale(), w = image.width, h = image.height
        guard w >= 3, h >= 3 else { return 0 }
        var sum = 0.0, sumSq = 0.0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let c = Int(g[y * w + x])
                let lap = Double(Int(g[(y - 1) * w + x]) + Int(g[(y + 1) * w + x]) + Int(g[y * w + x - 1]) + Int(g[y * w + x + 1]) - 4 * c)
                sum += lap; sumSq += lap * lap
            }
        }
        let n = Double((w - 2) * (h - 2))
        let mean = sum / n
        return sumSq / n - mean * mean
    }
}

/// Minimums a face must meet to become a template. Each failure says what to do about it.
public struct EnrollmentQualityPolicy: Sendable, Equatable, Codable {
    /// Eyes at least this many pixels apart (ISO/IEC 19794-5 asks 60 for a portrait; 40
    /// still yields good dlib embeddings).
    public var minimumInterEyeDistance: Double = 40
    /// Laplacian variance on the aligned chip. A sharp photo measures 100 to 1000; a
    /// Gaussian blur of sigma 2 brings the fixtures under 30.
    public var minimumSharpness: Double = 40
    /// |yaw| at most this (0.25 is roughly 30 degrees of turn).
    public var maximumYaw: Double = 0.25
    /// |roll| at most this many degrees.
    public var maximumRoll: Double = 25

    public init() {}

    public static let `default` = EnrollmentQualityPolicy()

    /// The reasons this face falls short, empty when it passes.
    public func problems(with q: FaceQuality) -> [String] {
        var out: [String] = []
        if q.interEyeDistance < minimumInterEyeDistance {
            out.append(String(format: "face too small: eyes %.0f px apart, need %.0f (move closer or use a larger photo)", q.interEyeDistance, minimumInterEyeDistance))
        }
        if q.sharpness < minimumSharpness {
            out.append(String(format: "photo too blurred: sharpness %.0f, need %.0f (hold still, focus, more light)", q.sharpness, minimumSharpness))
        }
        if abs(q.yaw) > maximumYaw {
            out.append(String(format: "head turned: yaw %.2f, allowed ±%.2f (face the camera)", q.yaw, maximumYaw))
        }
        if abs(q.roll) > maximumRoll {
            out.append(String(format: "head tilted %.0f°, allowed ±%.0f° (hold the head level)", q.roll, maximumRoll))
        }
        return out
    }
}
