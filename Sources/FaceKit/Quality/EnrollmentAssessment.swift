import Foundation

/// One enrollment photo judged by the enrollment gates, wherever the photo is: on a board
/// (`warden enroll`) or at the fleet server (uploaded, judged, and never stored).
public enum EnrollmentAssessment {
    public enum Verdict {
        case accepted(Embedding, FaceQuality)
        case rejected([String])
    }

    /// Decodes (throwing a readable error for a file that is not an image), finds one face,
    /// applies the quality gates, and embeds it.
    public static func assess(_ bytes: [UInt8], engine: FaceEngine, detection: DetectionOptions, quality: EnrollmentQualityPolicy,
                              useLargest: Bool) throws -> Verdict {
        try assess(bytes, engine: engine, detection: detection, quality: quality, useLargest: useLargest, second: nil).verdict
    }

    /// The same, and the accepted face embedded by a second recognition model too (nil when
    /// that model cannot embed it: the person is then enrolled on dlib alone).
    public static func assess(_ bytes: [UInt8], engine: FaceEngine, detection: DetectionOptions, quality: EnrollmentQualityPolicy,
                              useLargest: Bool, second: (any FaceRecognizer)?) throws -> (verdict: Verdict, second: Embedding?) {
        let image = try RGBImage(decoding: bytes)
        let faces = try engine.detect(image, options: detection)
        guard !faces.isEmpty else { return (.rejected(["no face found (use a well-lit, frontal photo where the face fills a good part of the frame)"]), nil) }
        if faces.count > 1 && !useLargest {
            return (.rejected(["\(faces.count) faces in the photo; crop it to one person, or pass --largest to use the largest face"]), nil)
        }
        let face = faces.largest!
        let chip = try engine.alignedChip(image, face: face)
        let q = FaceQuality(face: face, chip: chip)
        let problems = quality.problems(with: q)
        guard problems.isEmpty else { return (.rejected(problems), nil) }
        return (.accepted(try engine.embed(image, face: face), q), try? second?.embed(image, face: face))
    }
}
