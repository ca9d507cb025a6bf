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

/// Several templates per person give a stranger several chances: the thresholds tighten so
/// the per-person false-match rate stays what one template gives.
struct SeveralTemplatesThresholdTests {
    @Test func theOneToOneThresholdHoldsThePerPersonRate() {
        let t = MatchThresholds.default
        #expect(t.verifyThreshold(templates: 1) == t.verify && t.verifyThreshold(templates: 0) == t.verify)
        let five = t.verifyThreshold(templates: 5)
        #expect(five < t.verify && t.verifyThreshold(templates: 3) > five)
        // Five chances at the lowered threshold: the same per-person rate as one at verify.
        let one = t.impostors.falseMatchRate(atThreshold: t.verify)
        let perPerson = -expm1(5 * log1p(-t.impostors.falseMatchRate(atThreshold: five)))
        #expect(abs(perPerson - one) / one < 1e-6, "\(perPerson) vs \(one)")
    }

    @Test func verificationAndIdentificationUseTheTemplateCount() throws {
        let t = MatchThresholds.default
        var one = Gallery(), five = Gallery()
        var v = [Float](repeating: 0, count: 128); v[0] = 1
        try one.add(templateID: 1, personID: 1, unitVector: v)
        for i in 0..<5 {
            var w = [Float](repeating: 0, count: 128); w[0] = 1; w[1 + i] = 0.01
            let n = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            try five.add(templateID: Int64(i + 1), personID: 1, unitVector: w.map { $0 / n })
        }
        // A probe at distance 0.40 from the templates: inside verify (0.41) with one
        // template, outside the threshold lowered for five.
        var probe = [Float](repeating: 0, count: 128)
        probe[0] = Float(1 - 0.40 * 0.40 / 2); probe[127] = Float((1 - Double(probe[0]) * Double(probe[0])).squareRoot())
        let verifier = Verifier(thresholds: t)
        #expect(one.verify(probe, person: 1, using: verifier).match)
        let v5 = five.verify(probe, person: 1, using: verifier)
        #expect(!v5.match && v5.threshold == t.verifyThreshold(templates: 5) && v5.templatesCompared == 5)
        let id1 = Identifier(thresholds: t).identify(probe, in: one) { _ in true }
        let id5 = Identifier(thresholds: t).identify(probe, in: five) { _ in true }
        #expect(id5.threshold == t.identifyThreshold(people: 5) && id5.threshold < id1.threshold)
    }
}
