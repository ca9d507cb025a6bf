import FaceKit
import Foundation
import Matching
import Testing

/// The fusion's rules without a network: made-up unit vectors in two galleries.
@Suite("Fused matching")
struct FusedMatchingTests {
    let matching = FusedMatching(fusion: ScoreFusion(models: ["a": ImpostorModel(mean: 0.6, standardDeviation: 0.06, source: "t"),
                                                             "b": ImpostorModel(mean: 1.3, standardDeviation: 0.08, source: "t")]),
                                 fusedImpostors: ImpostorModel(mean: 0, standardDeviation: 0.8, source: "t"))
    let dlib = MatchThresholds(verify: 0.42, identifyCeiling: 0.42, targetFPIR: 1e-3, ambiguityMargin: 0.06,
                               impostors: ImpostorModel(mean: 0.6, standardDeviation: 0.06, source: "t"))

    /// A unit vector `angle` radians from the first axis, in the plane of axes 0 and `axis`.
    func vector(_ angle: Double, axis: Int = 1) -> [Float] {
        var v = [Float](repeating: 0, count: 128)
        v[0] = Float(cos(angle)); v[axis] = Float(sin(angle))
        return v
    }
    /// The angle whose chord (unit-vector distance) is `d`.
    func angle(forDistance d: Double) -> Double { 2 * asin(d / 2) }

    @Test func fusedThresholdsKeepDlibsNominalRates() {
        let t = matching.thresholds(equivalentTo: dlib)
        // Three impostor standard deviations below the mean in both units.
        #expect(abs(t.verify - (-0.8 * 3)) < 1e-9)
        #expect(abs(dlib.impostors.falseMatchRate(atThreshold: dlib.verify) - t.impostors.falseMatchRate(atThreshold: t.verify)) < 1e-12)
        #expect(abs(dlib.impostors.falseMatchRate(atThreshold: dlib.identifyThreshold(people: 1000))
                    - t.impostors.falseMatchRate(atThreshold: t.identifyThreshold(people: 1000))) < 1e-12)
    }

    @Test func aPersonWithOnlyTheFirstModelIsDecidedOnItAlone() throws {
        var g1 = Gallery(modelID: "a"), g2 = Gallery(modelID: "b")
        try g1.add(templateID: 1, personID: 7, unitVector: vector(0))
        let probe = vector(angle(forDistance: 0.30))
        let (v, by) = matching.verify(first: probe, second: vector(0.5), person: 7, firstGallery: g1, secondGallery: g2, thresholds: dlib)
        #expect(by == "a" && v.match && abs((v.distance ?? 0) - 0.30) < 1e-4)
        // With a second template, the fusion decides: a second-model distance at the
        // impostor mean pulls a borderline first-model match out.
        try g2.add(templateID: 2, personID: 7, unitVector: vector(0, axis: 2))
        let far = vector(angle(forDistance: 1.3), axis: 3)
        let (f, byF) = matching.verify(first: vector(angle(forDistance: 0.41)), second: far, person: 7, firstGallery: g1, secondGallery: g2, thresholds: dlib)
        #expect(byF == FusedMatching.decidedBy(["a", "b"]) && !f.match)
        // And both models close: a match on the fusion.
        let near = vector(angle(forDistance: 0.9), axis: 2)
        let (m, _) = matching.verify(first: vector(angle(forDistance: 0.41)), second: near, person: 7, firstGallery: g1, secondGallery: g2, thresholds: dlib)
        #expect(m.match)
    }

    @Test func identificationRanksBothKindsOfScoreOnOneScale() throws {
        var g1 = Gallery(modelID: "a"), g2 = Gallery(modelID: "b")
        // Person 1 holds both models' templates, person 2 the first model's only.
        try g1.add(templateID: 1, personID: 1, unitVector: vector(0))
        try g2.add(templateID: 2, personID: 1, unitVector: vector(0, axis: 2))
        try g1.add(templateID: 3, personID: 2, unitVector: vector(0, axis: 4))
        let q1 = vector(angle(forDistance: 0.25)), q2 = vector(angle(forDistance: 0.8), axis: 2)
        let (r, by) = matching.identify(first: q1, second: q2, firstGallery: g1, secondGallery: g2, thresholds: dlib) { _ in true }
        #expect(r.outcome == .identified(personID: 1) && by[1] == FusedMatching.decidedBy(["a", "b"]) && by[2] == "a")
        // Nobody inside their own threshold: not recognized.
        let stranger = matching.identify(first: vector(1.2, axis: 5), second: vector(1.2, axis: 6), firstGallery: g1, secondGallery: g2, thresholds: dlib) { _ in true }
        #expect(stranger.identification.outcome == .notRecognized(.tooFar))
        // The best is never passed over for the next: an ineligible best is "inactive".
        let inactive = matching.identify(first: q1, second: q2, firstGallery: g1, secondGallery: g2, thresholds: dlib) { $0 != 1 }
        #expect(inactive.identification.outcome == .notRecognized(.inactive))
    }

    @Test func theFusionSectionOfMatchingYamlRoundTripsAndIsChecked() throws {
        let text = try ThresholdsFile(dlib, calibration: nil, head: nil, fusion: matching).text()
        let back = try ThresholdsFile.parse(text, source: "t").fusedMatching(source: "t")
        #expect(back == matching)
        var bad = ThresholdsFile(dlib, calibration: nil, head: nil, fusion: matching)
        bad.fusion?.fused_impostors.standard_deviation = 0
        #expect(throws: ThresholdsFileError.self) { try ThresholdsFile.parse(try bad.text(), source: "t").fusedMatching(source: "t") }
        var one = ThresholdsFile(dlib, calibration: nil, head: nil, fusion: matching)
        one.fusion?.models["b"] = nil
        #expect(throws: ThresholdsFileError.self) { try ThresholdsFile.parse(try one.text(), source: "t").fusedMatching(source: "t") }
        #expect(try ThresholdsFile.parse("verify: 0.4\n", source: "t").fusedMatching(source: "t") == nil)
    }
}
