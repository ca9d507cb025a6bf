import FaceKit
import Foundation
import Testing
@testable import Matching

/// The choice of templates from a capture, on made-up candidates whose poses and
/// embeddings are known.
struct TemplateSelectionTests {
    typealias C = TemplateSelection.Candidate

    /// A unit vector pointing mostly along axis 0, tilted by `angle` toward `axis`.
    func vector(_ axis: Int, _ angle: Double) -> [Float] {
        var v = [Float](repeating: 0, count: 128)
        v[0] = Float(cos(angle)); v[axis] = Float(sin(angle))
        return v
    }

    func c(_ tag: Int, yaw: Double = 0, drop: Double = 0.75, quality: Double = 1, axis: Int = 1, angle: Double = 0.2) -> C {
        C(vector: vector(axis, angle), pose: FacePose(yaw: yaw, noseDrop: drop), quality: quality, tag: tag)
    }

    @Test func binsFollowTheLargerDeparture() {
        #expect(TemplateSelection.bin(FacePose(yaw: 0.01, noseDrop: 0.76), frontalDrop: 0.75) == .frontal)
        #expect(TemplateSelection.bin(FacePose(yaw: 0.10, noseDrop: 0.75), frontalDrop: 0.75) == .left)
        #expect(TemplateSelection.bin(FacePose(yaw: -0.10, noseDrop: 0.75), frontalDrop: 0.75) == .right)
        #expect(TemplateSelection.bin(FacePose(yaw: 0.0, noseDrop: 0.65), frontalDrop: 0.75) == .up)
        #expect(TemplateSelection.bin(FacePose(yaw: 0.07, noseDrop: 0.87), frontalDrop: 0.75) == .down, "a tilt of 2.4 x its step beats a turn of 1.2 x")
    }

    @Test func theBestFrontalFaceLeadsThenOnePerPose() {
        let candidates = [
            c(0, quality: 5, axis: 1), c(1, quality: 9, axis: 2),                 // frontal: 1 is better
            c(2, yaw: 0.12, quality: 3, axis: 3), c(3, yaw: 0.14, quality: 4, axis: 4),   // left: 3
            c(4, yaw: -0.12, quality: 2, axis: 5),                                // right
            c(5, drop: 0.62, quality: 1, axis: 6),                                // up
        ]
        let chosen = TemplateSelection.choose(candidates, count: 4)
        #expect(chosen.map(\.candidate.tag) == [1, 3, 4, 5])
        #expect(chosen.map(\.bin) == [.frontal, .left, .right, .up])
        #expect(TemplateSelection.coverage(candidates).missing == .down)
    }

    @Test func nearDuplicatesAreNotChosenTwice() {
        // Five frames of one still face (the same embedding) and one that differs.
        let same = (0..<5).map { c($0, quality: Double(10 - $0), axis: 1, angle: 0.2) }
        let other = c(5, yaw: 0.0, quality: 1, axis: 2, angle: 0.5)
        let chosen = TemplateSelection.choose(same + [other], count: 5)
        #expect(chosen.map(\.candidate.tag) == [0, 5], "the sharpest still once, then the one that differs; nothing more")
        for (i, a) in chosen.enumerated() {
            for b in chosen.dropFirst(i + 1) {
                #expect(DistanceMetric.euclidean.distance(a.candidate.vector, b.candidate.vector) >= TemplateSelection.minimumDifference)
            }
        }
        #expect(TemplateSelection.choose([], count: 3).isEmpty && TemplateSelection.choose(same, count: 0).isEmpty)
    }
}
