import Foundation
import Matching
import WardenCore

extension MetricHead {
    /// What a forward pass keeps for the backward pass of one sample.
    struct Trace {
        /// The input of each layer (after the previous layer's ReLU).
        var inputs: [[Double]] = []
        /// Each layer's output before its ReLU.
        var outputs: [[Double]] = []
        var norm = 0.0
        var unit: [Double] = []
    }

    func forward(_ x: [Double]) -> Trace {
        var t = Trace()
        var h = x
        for (i, layer) in layers.enumerated() {
            t.inputs.append(h)
            let z = layer.apply(h)
            t.outputs.append(z)
            h = i < layers.count - 1 ? z.map { max(0, $0) } : z
        }
        t.norm = h.reduce(0) { $0 + $1 * $1 }.squareRoot()
        t.unit = t.norm > 0 ? h.map { $0 / t.norm } : h
        return t
    }

    /// Adds dLoss/dweights for one sample to `grads`, given dLoss/d(unit output).
    func backward(_ t: Trace, gradient dUnit: [Double], into grads: inout [Dense]) {
        guard t.norm > 0 else { return }
        // Through y = z/|z|: dz = (dy - y (y·dy)) / |z|.
        let dot = zip(t.unit, dUnit).reduce(0) { $0 + $1.0 * $1.1 }
        var g = zip(dUnit, t.unit).map { ($0 - $1 * dot) / t.norm }
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[i], input = t.inputs[i]
            grads[i].weights.withUnsafeMutableBufferPointer { dw in
                for o in 0..<layer.outputs where g[o] != 0 {
                    let row = o * layer.inputs
                    for k in 0..<layer.inputs { dw[row + k] += g[o] * input[k] }
                }
            }
            for o in 0..<layer.outputs { grads[i].bias[o] += g[o] }
            guard i > 0 else { break }
            var dIn = [Double](repeating: 0, count: layer.inputs)
            layer.weights.withUnsafeBufferPointer { w in
                for o in 0..<layer.outputs where g[o] != 0 {
                    let row = o * layer.inputs
                    for k in 0..<layer.inputs { dIn[k] += w[row + k] * g[o] }
                }
            }
            // Through the ReLU after the previous layer.
            let pre = t.outputs[i - 1]
            g = zip(dIn, pre).map { $1 > 0 ? $0 : 0 }
        }
    }

    var zeroGradient: [Dense] {
        layers.map { Dense(inputs: $0.inputs, outputs: $0.outputs, weights: .init(repeating: 0, count: $0.weights.count), bias: .init(repeating: 0, count: $0.bias.count)) }
    }

    /// The training objective on one batch: the mean mined loss plus weight decay
    /// (λ/2)·Σw² on the weights (not the biases), and its gradient.
    public func objective(_ batch: [[Double]], labels: [Int], loss: MetricLoss, mining: NegativeMining,
                          weightDecay: Double) -> (value: Double, gradient: [Dense], batch: BatchLoss) {
        let traces = batch.map(forward)
        let b = BatchLoss.compute(traces.map(\.unit), labels: labels, loss: loss, mining: mining)
        var grads = zeroGradient
        for (t, g) in zip(traces, b.gradient) { backward(t, gradient: g, into: &grads) }
        var decay = 0.0
        for (i, l) in layers.enumerated() {
            for k in l.weights.indices { decay += l.weights[k] * l.weights[k]; grads[i].weights[k] += weightDecay * l.weights[k] }
        }
        return (b.loss + weightDecay / 2 * decay, grads, b)
    }
}

/// How `MetricTrainer` runs.
public struct MetricTrainingOptions: Sendable {
    public var kind: MetricHead.Kind = .linear
    public var loss: MetricLoss = .triplet(margin: 0.2)
    public var mining: NegativeMining = .semiHard
    public var weightDecay = 1e-4
    public var learningRate = 1e-3
    public var epochs = 60
    /// Epochs without a better validation score before training stops.
    public var patience = 10
    public var identitiesPerBatch = 8
    public var imagesPerIdentity = 4
    public var seed: UInt64 = 1
    public init() {}
}

/// Learns a metric head with Adam on online-mined batches (P identities x K images), and
/// keeps the epoch that did best on an identity-disjoint validation set. The validation
/// score is the FNMR at FMR 1e-3 (1e-2 when the validation pairs cannot support 1e-3),
/// ties broken by the EER; epoch 0 is the untrained head, which is the raw embedding, so a
/// head that does not beat the raw embedding on validation is returned unchanged.
public struct MetricTrainer: Sendable {
    public var options: MetricTrainingOptions
    public init(options: MetricTrainingOptions) { self.options = options }

    public struct Epoch: Sendable, Codable, Equatable {
        public var epoch: Int
        /// Mean batch objective, and the share of mined terms with a non-zero loss (nil
        /// for epoch 0, the untrained head).
        public var trainingLoss: Double?
        public var activeShare: Double?
        public var validationFNMR: Double
        public var validationEER: Double
    }

    public struct Result: Sendable {
        public var head: MetricHead
        public var history: [Epoch]
        public var bestEpoch: Int
        /// The FMR at which validation FNMR was measured.
        public var validationFMR: Double
    }

    /// `train` and `validation` hold each identity's raw embeddings; they must not share
    /// identities.
    public func train(_ train: [[[Double]]], validation: [[[Double]]]) -> Result {
        let dim = train.first(where: { !$0.isEmpty })?.first?.count ?? 128
        var head = MetricHead.identity(kind: options.kind, dimension: dim)
        var rng = SplitMix64(seed: options.seed)
        let validationScores = { (h: MetricHead) -> VerificationScores in Self.scores(validation.map { $0.map(h.project) }) }
        let start = validationScores(head)
        let fmr = start.supports(fmr: 1e-3) ? 1e-3 : 1e-2
        func score(_ s: VerificationScores) -> (fnmr: Double, eer: Double) {
            (s.threshold(forFMR: fmr)?.fnmr ?? 1, s.equalErrorRate()?.rate ?? 1)
        }
        let s0 = score(start)
        var history = [Epoch(epoch: 0, trainingLoss: nil, activeShare: nil, validationFNMR: s0.fnmr, validationEER: s0.eer)]
        var best = (head: head, epoch: 0, score: s0)
        var adam = Adam(shapeOf: head.layers, rate: options.learningRate)

        let usable = train.indices.filter { train[$0].count >= 2 }
        let images = usable.reduce(0) { $0 + train[$1].count }
        let perBatch = max(2, options.identitiesPerBatch) * max(2, options.imagesPerIdentity)
        let steps = max(1, images / perBatch)
        guard usable.count >= 2 else { return Result(head: head, history: history, bestEpoch: 0, validationFMR: fmr) }
        var sinceBest = 0
        for epoch in 1...max(1, options.epochs) {
            var lossSum = 0.0, activeSum = 0.0
            for _ in 0..<steps {
                let people = Array(usable.shuffled(using: &rng).prefix(max(2, options.identitiesPerBatch)))
                var batch: [[Double]] = [], labels: [Int] = []
                for p in people {
                    for v in train[p].shuffled(using: &rng).prefix(max(2, options.imagesPerIdentity)) { batch.append(v); labels.append(p) }
                }
                let o = head.objective(batch, labels: labels, loss: options.loss, mining: options.mining, weightDecay: options.weightDecay)
                adam.step(&head.layers, gradient: o.gradient)
                lossSum += o.value; activeSum += Double(o.batch.active) / Double(max(1, o.batch.terms))
            }
            let s = score(validationScores(head))
            history.append(Epoch(epoch: epoch, trainingLoss: lossSum / Double(steps), activeShare: activeSum / Double(steps),
                                 validationFNMR: s.fnmr, validationEER: s.eer))
            if s.fnmr < best.score.fnmr || (s.fnmr == best.score.fnmr && s.eer < best.score.eer) {
                best = (head, epoch, s); sinceBest = 0
            } else {
                sinceBest += 1
                if sinceBest >= options.patience { break }
            }
        }
        return Result(head: best.head, history: history, bestEpoch: best.epoch, validationFMR: fmr)
    }

    /// Every genuine and impostor pair among the identities' vectors.
    public static func scores(_ identities: [[[Double]]]) -> VerificationScores {
        var genuine: [Double] = [], impostor: [Double] = []
        let flat = identities.enumerated().flatMap { p in p.element.map { (p.offset, $0) } }
        for i in flat.indices {
            for j in (i + 1)..<max(i + 1, flat.count) {
                let d = BatchLoss.distance(flat[i].1, flat[j].1)
                if flat[i].0 == flat[j].0 { genuine.append(d) } else { impostor.append(d) }
            }
        }
        return VerificationScores(genuine: genuine, impostor: impostor)
    }
}

/// Adam (Kingma and Ba, 2015) over the head's weights and biases.
struct Adam {
    var rate: Double
    let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
    var t = 0
    var m: [MetricHead.Dense]
    var v: [MetricHead.Dense]

    init(shapeOf layers: [MetricHead.Dense], rate: Double) {
        self.rate = rate
        let zero = MetricHead(layers: layers, metadata: .init()).zeroGradient
        m = zero; v = zero
    }

    mutating func step(_ layers: inout [MetricHead.Dense], gradient: [MetricHead.Dense]) {
        t += 1
        let c1 = 1 - pow(beta1, Double(t)), c2 = 1 - pow(beta2, Double(t))
        func update(_ p: inout [Double], _ g: [Double], _ m: inout [Double], _ v: inout [Double]) {
            for k in p.indices {
                m[k] = beta1 * m[k] + (1 - beta1) * g[k]
                v[k] = beta2 * v[k] + (1 - beta2) * g[k] * g[k]
                p[k] -= rate * (m[k] / c1) / ((v[k] / c2).squareRoot() + epsilon)
            }
        }
        for i in layers.indices {
            update(&layers[i].weights, gradient[i].weights, &m[i].weights, &v[i].weights)
            update(&layers[i].bias, gradient[i].bias, &m[i].bias, &v[i].bias)
        }
    }
}
