import FaceKit
import Foundation
import Matching

/// The board's galleries and thresholds, and the two questions a door asks of them: who is
/// this (1:N), and is this the badge holder (1:1). With a second model, people holding both
/// models' templates are scored on the fusion and the rest on dlib alone. Pure: the
/// galleries are in memory, and eligibility is asked of the caller.
public final class GalleryMatcher {
    public var gallery: Gallery
    /// The second model's templates, beside `gallery`'s dlib ones.
    public var secondGallery: Gallery
    public var thresholds: MatchThresholds
    /// How the second model's distances fuse with dlib's; nil: dlib alone.
    public var fusion: FusedMatching?

    public init(gallery: Gallery, secondGallery: Gallery = Gallery(modelID: "none"), thresholds: MatchThresholds, fusion: FusedMatching? = nil) {
        self.gallery = gallery; self.secondGallery = secondGallery; self.thresholds = thresholds; self.fusion = fusion
    }

    public var verifier: Verifier { Verifier(thresholds: thresholds) }

    /// 1:N; `decidedBy` says, per candidate, which models scored them.
    public func identify(_ vector: [Float], second: [Float]?, isEligible: (Int64) -> Bool) -> (identification: Identification, decidedBy: [Int64: String]) {
        guard let fusion else {
            return (Identifier(thresholds: thresholds).identify(vector, in: gallery, isEligible: isEligible), [:])
        }
        return fusion.identify(first: vector, second: second, firstGallery: gallery, secondGallery: secondGallery,
                               thresholds: thresholds, isEligible: isEligible)
    }

    /// 1:1 against a person's templates: fused when the person and the probe both have the
    /// second model, dlib alone otherwise.
    public func verify(_ vector: [Float], second: [Float]?, person: Int64) -> (verification: Verification, decidedBy: String) {
        guard let fusion else { return (gallery.verify(vector, person: person, using: verifier), gallery.modelID) }
        return fusion.verify(first: vector, second: second, person: person, firstGallery: gallery, secondGallery: secondGallery, thresholds: thresholds)
    }
}
