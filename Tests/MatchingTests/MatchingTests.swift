import CSearchKernels
import FaceKit
import Foundation
import Testing
import WardenCore
@testable import Matching

typealias SplitMix = SplitMix64
extension SplitMix64 { init(state: UInt64) { self.init(seed: state) } }

func unitVector(_ rng: inout SplitMix64) -> [Float] {
    // Normal-ish components (sum of uniforms) give directions uniform on the sphere.
    let v = (0..<128).map { _ in (0..<4).reduce(Float(0)) { acc, _ in acc + Float.random(in: -1...1, using: &rng) } }
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return v.map { $0 / n }
}

/// A vector at roughly `distance` from `base` (unit length).
func near(_ base: [Float], distance: Float, _ rng: inout SplitMix64) -> [Float] {
    let noise = unitVector(&rng)
    let dot = zip(base, noise).reduce(Float(0)) { $0 + $1.0 * $1.1 }
    let ortho = zip(noise, base).map { $0 - dot * $1 }
    let on = ortho.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let c = 1 - distance * distance / 2, s = (1 - c * c).squareRoot()
    return zip(base, ortho).map { c * $0 + s * $1 / on }
}

@Suite("Gallery")
struct GalleryTests {
    @Test func searchIsExactAgainstBruteForce() throws {
        var rng = SplitMix(state: 11)
        var g = Gallery()
        var people: [Int64: [[Float]]] = [:]
        for t in 0..<600 {
            let person = Int64(Int.random(in: 0..<150, using: &rng))
            let v = unitVector(&rng)
            try g.add(templateID: Int64(t), personID: person, unitVector: v)
            people[person, default: []].append(v)
        }
        for _ in 0..<30 {
            let q = unitVector(&rng)
            let brute = people.map { (pid, vs) in (pid, vs.map { DistanceMetric.euclidean.distance(q, $0) }.min()!) }
                .sorted { $0.1 < $1.1 }.prefix(10)
            let got = g.search(q, k: 10)
            #expect(got.map(\.personID) == brute.map(\.0))
            for (a, b) in zip(got, brute) { #expect(abs(a.distance - b.1) < 1e-4) }
        }
    }

    @Test func onePersonWithManyTemplatesDoesNotCrowdOutOthers() throws {
        var rng = SplitMix(state: 5)
        var g = Gallery()
        let q = unitVector(&rng)
        for t in 0..<100 { try g.add(templateID: Int64(t), personID: 1, unitVector: near(q, distance: 0.1, &rng)) }
        try g.add(templateID: 1000, personID: 2, unitVector: near(q, distance: 0.9, &rng))
        try g.add(templateID: 1001, personID: 3, unitVector: near(q, distance: 1.2, &rng))
        #expect(g.search(q, k: 3).map(\.personID) == [1, 2, 3])
    }

    @Test func incrementalRemoveKeepsTheRestSearchable() throws {
        var rng = SplitMix(state: 9)
        var g = Gallery()
        var vectors: [Int64: [Float]] = [:]
        for t in 0..<50 { let v = unitVector(&rng); vectors[Int64(t)] = v; try g.add(templateID: Int64(t), personID: Int64(t / 2), unitVector: v) }
        let removedOnce = g.remove(templateID: 0), removedTwice = g.remove(templateID: 0)
        #expect(removedOnce && !removedTwice)
        let removedOfPerson = g.remove(personID: 10)
        #expect(removedOfPerson == 2)  // templates 20, 21
        #expect(g.count == 47)
        for (t, v) in vectors where ![0, 20, 21].contains(t) {
            let hit = try #require(g.search(v, k: 1).first)
            #expect(hit.templateID == t && hit.distance < 1e-3)
        }
        #expect(throws: GalleryError.duplicateTemplate(5)) { try g.add(templateID: 5, personID: 1, unitVector: vectors[5]!) }
        let other = try Embedding(raw: vectors[5]!, modelID: "other-model")
        #expect(throws: GalleryError.self) { try g.add(templateID: 999, personID: 1, embedding: other) }
    }
}

@Suite("Identification and verification")
struct DecisionTests {
    func gallery(_ entries: [(Int64, [Float])]) throws -> Gallery {
        var g = Gallery()
        for (i, e) in entries.enumerated() { try g.add(templateID: Int64(i), personID: e.0, unitVector: e.1) }
        return g
    }

    @Test func identifiesOnlyOnStrongUnambiguousEvidence() throws {
        var rng = SplitMix(state: 1)
        let alice = unitVector(&rng), bob = unitVector(&rng)
        let g = try gallery([(1, alice), (2, bob)])
        let id = Identifier()
        let t = MatchThresholds.default.identifyThreshold(people: 2)

        let close = id.identify(near(alice, distance: Float(t) * 0.5, &rng), in: g) { _ in true }
        #expect(close.outcome == .identified(personID: 1))

        let far = id.identify(near(alice, distance: Float(t) + 0.05, &rng), in: g) { _ in true }
        #expect(far.outcome == .notRecognized(.tooFar))

        let suspended = id.identify(near(alice, distance: Float(t) * 0.5, &rng), in: g) { $0 != 1 }
        #expect(suspended.outcome == .notRecognized(.inactive))
        #expect(suspended.candidates.first?.personID == 1)

        #expect(id.identify(alice, in: Gallery()) { _ in true }.outcome == .notRecognized(.emptyGallery))
    }

    @Test func twoNearlyEqualCandidatesAreAmbiguous() throws {
        var rng = SplitMix(state: 2)
        let face = unitVector(&rng)
        // Two people whose templates are both very close to the probe.
        let g = try gallery([(1, near(face, distance: 0.10, &rng)), (2, near(face, distance: 0.11, &rng))])
        let r = Identifier().identify(face, in: g) { _ in true }
        #expect(r.outcome == .notRecognized(.ambiguous))
        #expect(r.margin! < MatchThresholds.default.ambiguityMargin)
    }

    @Test func thresholdTightensAsTheGalleryGrows() {
        let t = MatchThresholds.default
        var last = Double.infinity
        for n in [1, 10, 100, 1000, 10_000, 1_000_000] {
            let th = t.identifyThreshold(people: n)
            #expect(th <= last)
            #expect(th <= t.identifyCeiling)
            // Below the ceiling, the threshold holds the target FPIR exactly.
            if th < t.identifyCeiling { #expect(abs(t.expectedFPIR(threshold: th, people: n) - t.targetFPIR) / t.targetFPIR < 1e-6) }
            last = th
        }
        #expect(t.identifyThreshold(people: 1_000_000) < t.identifyThreshold(people: 10))
        #expect(abs(t.perComparisonFMR(people: 1000) - 1e-6) < 1e-8)  // ≈ target / N
    }

    @Test func normalQuantileInvertsTheCDF() {
        for p in [1e-12, 1e-9, 1e-6, 1e-4, 0.01, 0.3, 0.5, 0.8, 0.99, 1 - 1e-9] {
            let x = NormalDistribution.quantile(p)
            #expect(abs(NormalDistribution.cdf(x) - p) / min(p, 1 - p) < 1e-6)
        }
        #expect(abs(NormalDistribution.quantile(0.975) - 1.959963985) < 1e-8)
        let m = ImpostorModel(mean: 0.6, standardDeviation: 0.05, source: "test")
        #expect(abs(m.threshold(forFalseMatchRate: m.falseMatchRate(atThreshold: 0.42)) - 0.42) < 1e-9)
    }

    @Test func verificationTakesTheClosestTemplate() {
        var rng = SplitMix(state: 3)
        let face = unitVector(&rng)
        let templates: [(templateID: Int64, vector: [Float])] = [(7, near(face, distance: 0.6, &rng)), (8, near(face, distance: 0.2, &rng))]
        let v = Verifier().verify(face, against: templates)
        #expect(v.match && v.templateID == 8)
        #expect(abs(v.distance! - 0.2) < 1e-3)
        #expect(abs(v.margin! - (v.threshold - v.distance!)) < 1e-12)
        let none = Verifier().verify(face, against: [])
        #expect(!none.match && none.distance == nil)
        let far = Verifier().verify(face, against: [(1, near(face, distance: 0.8, &rng))])
        #expect(!far.match && far.margin! < 0)
    }
}

@Suite("Compact two-pass scan")
struct CompactScanTests {
    @Test func kernelMatchesTheScalarReferenceIncludingExtremes() {
        var rng = SplitMix(state: 77)
        let rows = 1001
        var codes = (0..<(rows * 128)).map { _ in Int8.random(in: -127...127, using: &rng) }
        for i in 0..<128 { codes[i] = 127; codes[128 + i] = -127 }  // rows of extremes
        var query = (0..<128).map { _ in Int8.random(in: -127...127, using: &rng) }
        query[0] = -127
        var fast = [Int32](repeating: 0, count: rows), slow = [Int32](repeating: 0, count: rows)
        csk_int8_dot128_scan(codes, rows, query, &fast)
        csk_int8_dot128_scan_scalar(codes, rows, query, &slow)
        #expect(fast == slow)
        let allMax = [Int8](repeating: 127, count: 128)
        var one = [Int32](repeating: 0, count: 1)
        csk_int8_dot128_scan(allMax, 1, allMax, &one)
        #expect(one[0] == 127 * 127 * 128)
    }

    /// The two-pass result equals the Float32 scan exactly, on random directions and on
    /// tight clusters (many near-ties, the hard case for a quantised first pass).
    @Test func twoPassEqualsFullFloatScan() throws {
        var rng = SplitMix(state: 123)
        var g = Gallery()
        let centres = (0..<40).map { _ in unitVector(&rng) }
        for t in 0..<12_000 {
            let v = t % 3 == 0 ? unitVector(&rng) : near(centres[t % 40], distance: Float.random(in: 0.02...0.4, using: &rng), &rng)
            try g.add(templateID: Int64(t), personID: Int64(t), unitVector: v)
        }
        #expect(g.count >= Gallery.compactScanMinimum)
        for i in 0..<60 {
            let q = i % 2 == 0 ? unitVector(&rng) : near(centres[i % 40], distance: 0.1, &rng)
            for k in [1, 10, 50] {
                let fast = g.nearestRowsTwoPass(q, count: k), exact = g.nearestRowsFloat(q, count: k)
                #expect(fast.map(\.row) == exact.map(\.row))
                #expect(fast.map(\.dot) == exact.map(\.dot))
            }
        }
    }

    @Test func quantisationErrorStaysWithinTheBound() {
        var rng = SplitMix(state: 8)
        for _ in 0..<500 {
            let v = unitVector(&rng), x = unitVector(&rng)
            let qv = Quantized(v), qx = Quantized(x)
            let exact = zip(v, x).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let intDot = zip(qv.codes, qx.codes).reduce(Int32(0)) { $0 + Int32($1.0) * Int32($1.1) }
            let approx = Float(intDot) * qv.scale * qx.scale
            let bound = 0.5 * qx.scale * qv.l1 + 0.5 * qv.scale * x.reduce(0) { $0 + abs($1) }
            #expect(abs(exact - approx) <= bound + 1e-6)
        }
    }
}
