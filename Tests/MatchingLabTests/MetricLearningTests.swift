import Foundation
import Matching
import MatchingLab
import Testing
import WardenCore

@Suite("metric learning")
struct MetricLearningTests {
    @Test func lossesHaveTheirTextbookValues() {
        #expect(abs(MetricLoss.contrastive(samePerson: true, distance: 0.3, margin: 0.5, squaredHinge: false).loss - 0.09) < 1e-12)
        #expect(abs(MetricLoss.contrastive(samePerson: true, distance: 0.3, margin: 0.5, squaredHinge: false).dD - 0.6) < 1e-12)
        #expect(abs(MetricLoss.contrastive(samePerson: false, distance: 0.3, margin: 0.5, squaredHinge: false).loss - 0.2) < 1e-12)
        #expect(abs(MetricLoss.contrastive(samePerson: false, distance: 0.3, margin: 0.5, squaredHinge: true).loss - 0.04) < 1e-12)
        #expect(MetricLoss.contrastive(samePerson: false, distance: 0.7, margin: 0.5, squaredHinge: true) == (0, 0))
        #expect(abs(MetricLoss.triplet(positive: 0.4, negative: 0.5, margin: 0.2).loss - 0.1) < 1e-12)
        #expect(MetricLoss.triplet(positive: 0.3, negative: 0.5, margin: 0.2).loss == 0)   // exactly at the margin: inactive
        #expect(MetricLoss.triplet(positive: 0.3, negative: 0.6, margin: 0.2) == (0, 0, 0))
    }

    /// Points on a line: anchor 0 at x=0 with its positive at 0.3; negatives at 0.2, 0.5
    /// and 0.9. Hard mining trains against 0.2; semi-hard against 0.5, the closest one
    /// beyond the positive.
    @Test func hardAndSemiHardMiningPickTheRightNegative() {
        let v: [[Double]] = [[0, 0], [0.3, 0], [0.2, 0], [0.5, 0], [0.9, 0]]
        let labels = [0, 0, 1, 2, 3]
        let hard = BatchLoss.compute(v, labels: labels, loss: .triplet(margin: 0.4), mining: .hard)
        let semi = BatchLoss.compute(v, labels: labels, loss: .triplet(margin: 0.4), mining: .semiHard)
        // Triplets: (0,1) and (1,0). Hard: d(0,neg 0.2)=0.2 -> 0.3-0.2+0.4 = 0.5; from anchor 1
        // (x=0.3) the hardest negative is 0.2 (d 0.1) -> 0.3-0.1+0.4 = 0.6. Mean 0.55.
        #expect(abs(hard.loss - 0.55) < 1e-12)
        // Semi-hard: anchor 0 -> 0.5 (d 0.5 > 0.3): 0.3-0.5+0.4 = 0.2; anchor 1 -> 0.9 (d 0.6):
        // 0.3-0.6+0.4 = 0.1. Mean 0.15.
        #expect(abs(semi.loss - 0.15) < 1e-12)
        #expect(hard.terms == 2 && semi.terms == 2)
    }

    /// dLoss/dvectors of a batch against central differences, for every loss variant.
    @Test(arguments: [MetricLoss.triplet(margin: 0.3), .contrastive(margin: 0.9, squaredHinge: false), .contrastive(margin: 0.9, squaredHinge: true)])
    func batchGradientMatchesFiniteDifferences(loss: MetricLoss) {
        var rng = SplitMix64(seed: 7)
        let labels = [0, 0, 0, 1, 1, 2, 2, 3]
        let v = labels.map { _ in (0..<5).map { _ in Double.random(in: -1...1, using: &rng) } }
        for mining in NegativeMining.allCases {
            let analytic = BatchLoss.compute(v, labels: labels, loss: loss, mining: mining).gradient
            for i in v.indices {
                for k in v[i].indices {
                    var plus = v, minus = v
                    plus[i][k] += 1e-6; minus[i][k] -= 1e-6
                    let numeric = (BatchLoss.compute(plus, labels: labels, loss: loss, mining: mining).loss
                        - BatchLoss.compute(minus, labels: labels, loss: loss, mining: mining).loss) / 2e-6
                    #expect(abs(numeric - analytic[i][k]) < 1e-6, "\(loss) \(mining) vector \(i) component \(k): \(numeric) vs \(analytic[i][k])")
                }
            }
        }
    }

    /// The whole objective (normalisation, ReLU, layers, weight decay) against central
    /// differences on every weight and bias of a small head.
    @Test(arguments: MetricHead.Kind.allCases)
    func headGradientMatchesFiniteDifferences(kind: MetricHead.Kind) {
        var rng = SplitMix64(seed: 11)
        var head = MetricHead.identity(kind: kind, dimension: 4)
        for l in head.layers.indices {
            head.layers[l].weights = head.layers[l].weights.map { $0 + Double.random(in: -0.3...0.3, using: &rng) }
            head.layers[l].bias = head.layers[l].bias.map { _ in Double.random(in: -0.1...0.1, using: &rng) }
        }
        let labels = [0, 0, 1, 1, 2, 2]
        let batch = labels.map { _ in (0..<4).map { _ in Double.random(in: -1...1, using: &rng) } }
        for loss in [MetricLoss.triplet(margin: 0.5), .contrastive(margin: 1.2, squaredHinge: true)] {
            let analytic = head.objective(batch, labels: labels, loss: loss, mining: .hard, weightDecay: 0.01).gradient
            func value(_ h: MetricHead) -> Double { h.objective(batch, labels: labels, loss: loss, mining: .hard, weightDecay: 0.01).value }
            for l in head.layers.indices {
                for k in head.layers[l].weights.indices {
                    var p = head, m = head
                    p.layers[l].weights[k] += 1e-6; m.layers[l].weights[k] -= 1e-6
                    let numeric = (value(p) - value(m)) / 2e-6
                    #expect(abs(numeric - analytic[l].weights[k]) < 1e-6, "\(kind) \(loss) layer \(l) weight \(k)")
                }
                for k in head.layers[l].bias.indices {
                    var p = head, m = head
                    p.layers[l].bias[k] += 1e-6; m.layers[l].bias[k] -= 1e-6
                    let numeric = (value(p) - value(m)) / 2e-6
                    #expect(abs(numeric - analytic[l].bias[k]) < 1e-6, "\(kind) \(loss) layer \(l) bias \(k)")
                }
            }
        }
    }

    @Test(arguments: MetricHead.Kind.allCases)
    func anUntrainedHeadIsTheRawEmbedding(kind: MetricHead.Kind) throws {
        let head = MetricHead.identity(kind: kind, dimension: 3)
        let y = head.project([3.0, -4.0, 0.0])
        #expect(zip(y, [0.6, -0.8, 0.0]).allSatisfy { abs($0 - $1) < 1e-12 })
        try head.validate(inputDimension: 3)
        #expect(throws: MetricHeadError.self) { try head.validate(inputDimension: 128) }
    }

    /// Identities that differ in four dimensions, buried under a large nuisance in four
    /// others (as lighting or pose would be): a learned linear head suppresses the nuisance
    /// and beats the raw vectors on held-out identities, and the seeded run replays exactly.
    @Test(arguments: [MetricLoss.triplet(margin: 0.2), .contrastive(margin: 0.8, squaredHinge: false)])
    func learningSuppressesANuisanceOnUnseenIdentities(loss: MetricLoss) {
        var rng = SplitMix64(seed: 3)
        func identities(_ count: Int) -> [[[Double]]] {
            (0..<count).map { _ in
                let centre = (0..<4).map { _ in Double.random(in: -1...1, using: &rng) }
                return (0..<6).map { _ in
                    centre.map { $0 + Double.random(in: -0.05...0.05, using: &rng) } + (0..<4).map { _ in Double.random(in: -2...2, using: &rng) }
                }
            }
        }
        let train = identities(24), validation = identities(10), test = identities(10)
        var options = MetricTrainingOptions()
        options.loss = loss; options.epochs = 40; options.patience = 40; options.learningRate = 0.01; options.seed = 5
        let result = MetricTrainer(options: options).train(train, validation: validation)
        let raw = MetricTrainer.scores(test.map { $0.map { v in MetricHead.identity(kind: .linear, dimension: 8).project(v) } })
        let learned = MetricTrainer.scores(test.map { $0.map(result.head.project) })
        let rawEER = raw.equalErrorRate()!.rate, learnedEER = learned.equalErrorRate()!.rate
        #expect(result.bestEpoch > 0)
        #expect(learnedEER < rawEER / 2, "EER raw \(rawEER), learned \(learnedEER)")
        let again = MetricTrainer(options: options).train(train, validation: validation)
        #expect(again.head == result.head && again.history == result.history)
    }

    /// A gallery with a head holds projected rows and projects every probe, so searching
    /// and verifying raw embeddings give the distances of the learned space.
    @Test func aGalleryWithAHeadMatchesInTheLearnedSpace() throws {
        var rng = SplitMix64(seed: 9)
        var head = MetricHead.identity(kind: .linear, dimension: 128)
        head.layers[0].weights = head.layers[0].weights.map { $0 + Double.random(in: -0.2...0.2, using: &rng) }
        func unit() -> [Float] {
            let v = (0..<128).map { _ in Float.random(in: -1...1, using: &rng) }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / n }
        }
        let a = unit(), b = unit(), probe = unit()
        var gallery = Gallery(head: head)
        try gallery.add(templateID: 1, personID: 10, unitVector: a)
        try gallery.add(templateID: 2, personID: 20, unitVector: b)
        func d(_ x: [Float], _ y: [Float]) -> Double {
            let px = head.project(x), py = head.project(y)
            return Double(zip(px, py).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }).squareRoot()
        }
        let found = gallery.search(probe, k: 2)
        let expected = [(10, d(probe, a)), (20, d(probe, b))].sorted { $0.1 < $1.1 }
        #expect(found.map(\.personID) == expected.map { Int64($0.0) })
        #expect(zip(found.map(\.distance), expected.map(\.1)).allSatisfy { abs($0 - $1) < 1e-4 })
        let v = gallery.verify(probe, person: 10, using: Verifier())
        #expect(abs((v.distance ?? 9) - d(probe, a)) < 1e-4)
        // Without the head the same vectors give the raw distances, which differ.
        var raw = Gallery()
        try raw.add(templateID: 1, personID: 10, unitVector: a)
        #expect(abs((raw.verify(probe, person: 10, using: Verifier()).distance ?? 9) - (v.distance ?? 9)) > 1e-3)
    }
}
