import Testing
@testable import PresentationAttack

@Suite struct LivenessEvidenceTests {
    @Test func fewerFramesThanRequiredIsUnsure() {
        var e = LivenessEvidence()
        e.add(0.99); e.add(0.99)
        #expect(e.verdict(LivenessRule(framesRequired: 3, threshold: 0.5)) == .unsure)
        e.add(0.99)
        #expect(e.verdict(LivenessRule(framesRequired: 3, threshold: 0.5)) == .live)
    }

    @Test func lowFramesOutweighOneHighOne() {
        var e = LivenessEvidence()
        for s in [0.95, 0.1, 0.05, 0.1] { e.add(s) }
        #expect(e.verdict(LivenessRule(framesRequired: 3, threshold: 0.5)) == .attack)
    }
}
