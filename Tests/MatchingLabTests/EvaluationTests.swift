import Foundation
import Matching
import MatchingLab
import Testing

/// Known answers on small hand-made score sets.
@Suite("Accuracy metrics")
struct EvaluationTests {
    // Genuine distances 0.1...0.5, impostor 0.4...0.8: they overlap at 0.4-0.5.
    let s = VerificationScores(genuine: [0.1, 0.2, 0.3, 0.4, 0.5], impostor: [0.4, 0.5, 0.6, 0.7, 0.8])

    @Test func ratesAtAThreshold() {
        #expect(s.fmr(at: 0.45) == 0.2)       // 0.4 of 5 impostors
        #expect(s.fnmr(at: 0.45) == 0.2)      // 0.5 of 5 genuine
        #expect(s.fmr(at: 0.39) == 0 && s.fnmr(at: 0.39) == 0.4)
        #expect(s.fmr(at: 1) == 1 && s.fnmr(at: 1) == 0)
        #expect(s.fmr(at: 0) == 0 && s.fnmr(at: 0) == 1)
    }

    @Test func equalErrorRate() throws {
        // At 0.4: FMR 0.2, FNMR 0.2 (0.5 is above): they are equal there.
        let eer = try #require(s.equalErrorRate())
        #expect(abs(eer.rate - 0.2) < 1e-12 && abs(eer.threshold - 0.4) < 1e-12)
        // Separable sets: EER 0 at the gap.
        let clean = VerificationScores(genuine: [0.1, 0.2], impostor: [0.6, 0.7])
        #expect(try #require(clean.equalErrorRate()).rate == 0)
    }

    @Test func fnmrAtAFixedFMR() throws {
        // FMR <= 0.2 allows thresholds up to 0.4 (not 0.5: FMR 0.4). FNMR there: 0.2.
        let p = try #require(s.threshold(forFMR: 0.2))
        #expect(p.threshold == 0.4 && p.fmr == 0.2 && p.fnmr == 0.2)
        // FMR 0: below the first impostor; the best is 0.3 (FNMR 0.4).
        let z = try #require(s.threshold(forFMR: 0))
        #expect(z.threshold == 0.3 && z.fmr == 0 && abs(z.fnmr - 0.4) < 1e-12)
        // Nothing meets it when an impostor is nearer than every genuine pair.
        #expect(VerificationScores(genuine: [0.5], impostor: [0.1]).threshold(forFMR: 0) == nil)
        // 5 impostor pairs support an FMR claim of 0.6, not of 1e-3.
        #expect(s.supports(fmr: 0.6) && !s.supports(fmr: 1e-3))
    }

    @Test func wilsonIntervalKnownValues() {
        // 0 of 10: [0, 0.2775]; 5 of 10: [0.2366, 0.7634] (standard tables).
        let a = wilsonInterval(0, 10), b = wilsonInterval(5, 10)
        #expect(a.low == 0 && abs(a.high - 0.2775) < 1e-4)
        #expect(abs(b.low - 0.2366) < 1e-4 && abs(b.high - 0.7634) < 1e-4)
    }

    @Test func openSetIdentification() throws {
        // Four mated searches: mate at rank 1 (0.2), rank 1 (0.35), rank 2 (0.3), missing.
        // Three non-mated searches: nearest strangers at 0.25, 0.5, 0.6.
        let id = IdentificationScores(mated: [(1, 0.2), (1, 0.35), (2, 0.3), nil], nonMatedBest: [0.5, 0.25, 0.6])
        #expect(id.rankAccuracy(1) == 0.5 && id.rankAccuracy(2) == 0.75 && id.rankAccuracy(10) == 0.75)
        #expect(abs(id.fpir(at: 0.3) - 1.0 / 3) < 1e-12)         // only the 0.25 stranger
        #expect(id.fnir(at: 0.3) == 0.75)                         // only the 0.2 mate counts
        #expect(id.fnir(at: 0.4) == 0.5)
        // FPIR 0: thresholds below 0.25; the best is 0.2 (FNIR 0.75).
        let p = try #require(id.fnir(atFPIR: 0))
        #expect(p.threshold == 0.2 && p.fpir == 0 && p.fnir == 0.75)
        let tradeoff = id.tradeoff()
        #expect(tradeoff.map(\.threshold) == tradeoff.map(\.threshold).sorted())
        #expect(tradeoff.last?.fpir == 1)
    }
}

@Suite("Calibration")
struct CalibrationTests {
    /// 4 genuine distances and 1,000 impostor distances spread evenly over 0.30-0.80.
    let scores = VerificationScores(genuine: [0.10, 0.20, 0.30, 0.45],
                                    impostor: (0..<1000).map { 0.30 + 0.5 * Double($0) / 999 })

    @Test func picksTheThresholdThatHoldsTheTarget() throws {
        let c = try Calibration.make(scores, targetFMR: 1e-2)
        #expect(c.fmr <= 1e-2 && scores.fmr(at: c.verify) == c.fmr)
        // The next impostor distance above it would break the target.
        let next = try #require(scores.impostor.first { $0 > c.verify })
        #expect(scores.fmr(at: next) > 1e-2)
        #expect(c.fnmr == 0.25)                         // 0.45 stays out
        #expect(abs(c.impostorMean - 0.55) < 1e-9 && abs(c.impostorStandardDeviation - 0.1445) < 1e-3)
        let t = c.applied(to: .default, source: "test")
        #expect(t.verify == c.verify && t.impostors.mean == c.impostorMean && t.ambiguityMargin == MatchThresholds.default.ambiguityMargin)
    }

    @Test func refusesWhatTheDataCannotSupport() {
        // 1,000 impostor pairs support 3e-3, not 1e-4 (30,000 needed).
        #expect(throws: Calibration.Refusal.tooFewImpostorPairs(have: 1000, need: 30000, target: 1e-4)) { try Calibration.make(scores, targetFMR: 1e-4) }
        #expect(throws: Calibration.Refusal.noGenuinePairs) { try Calibration.make(VerificationScores(genuine: [], impostor: scores.impostor), targetFMR: 1e-2) }
        // 40 of 5,040 impostors closer than every genuine pair: even the smallest threshold
        // has FMR 0.8%, over the 0.1% target.
        let bad = VerificationScores(genuine: [0.5, 0.6, 0.7], impostor: [Double](repeating: 0.1, count: 40) + (0..<5000).map { 0.8 + Double($0) * 1e-5 })
        #expect(throws: Calibration.Refusal.noThreshold(target: 1e-3)) { try Calibration.make(bad, targetFMR: 1e-3) }
    }

    /// Non-mated best distances 0.1 ... 1.0: FPIR 1e-1 allows one of ten, so the threshold
    /// sits just below the second; 5e-2 allows none; a target of 1 allows them all.
    @Test func theOpenSetThresholdHoldsItsFPIR() throws {
        let s = IdentificationScores(mated: [], nonMatedBest: (1...10).map { Double($0) / 10 }.shuffled())
        let t = try #require(s.threshold(forFPIR: 0.1))
        #expect(t < 0.2 && t > 0.19999 && s.fpir(at: t) == 0.1)
        #expect(s.fpir(at: try #require(s.threshold(forFPIR: 0.05))) == 0)
        #expect(s.threshold(forFPIR: 1) == 1.0)
        #expect(IdentificationScores(mated: [], nonMatedBest: []).threshold(forFPIR: 0.1) == nil)
    }

    /// Gaps 0.01, 0.02, ..., 1.00 between the right person and the next: a 5% cost allows
    /// the margin 0.06, which turns away exactly the five gaps below it.
    @Test func theAmbiguityMarginCostsAtMostItsShareOfCorrectAnswers() throws {
        let gaps = (1...100).map { Double($0) / 100 }.shuffled()
        let m = Calibration.ambiguityMargin(correctGaps: gaps, cost: 0.05)
        #expect(abs(m - 0.06) < 1e-12)
        #expect(gaps.filter { $0 < m }.count == 5)
        #expect(Calibration.ambiguityMargin(correctGaps: gaps, cost: 0) == 0.01)     // refuses none
        #expect(Calibration.ambiguityMargin(correctGaps: [], cost: 0.01) == 0)
        let t = try Calibration.make(scores, targetFMR: 1e-2).applied(to: .default, source: "test", ambiguityMargin: m)
        #expect(t.ambiguityMargin == m && t.identifyCeiling == t.verify)
    }
}
