import Foundation

/// A learned metric on top of the face embeddings: a linear projection, or a small two-layer
/// head, whose output is L2-normalised so the projected space is again a metric space of
/// unit vectors, compared by Euclidean distance like the raw one.
///
/// Stored raw templates are never rewritten: the head is applied when the gallery is loaded
/// and to each probe (`project`), so installing, replacing or removing a head needs no
/// migration, only thresholds calibrated in its space (`warden calibrate --metric-head`).
public struct MetricHead: Sendable, Codable, Equatable {
    /// One fully connected layer, `outputs x inputs` weights stored row by row.
    public struct Dense: Sendable, Codable, Equatable {
        public var inputs: Int
        public var outputs: Int
        public var weights: [Double]
        public var bias: [Double]

        public init(inputs: Int, outputs: Int, weights: [Double], bias: [Double]) {
            self.inputs = inputs; self.outputs = outputs; self.weights = weights; self.bias = bias
        }

        package func apply(_ x: [Double]) -> [Double] {
            var y = bias
            weights.withUnsafeBufferPointer { w in
                for o in 0..<outputs {
                    var s = 0.0
                    let row = o * inputs
                    for i in 0..<inputs { s += w[row + i] * x[i] }
                    y[o] += s
                }
            }
            return y
        }
    }

    public enum Kind: String, Sendable, Codable, CaseIterable { case linear, mlp }

    /// Layers in order; a ReLU sits between consecutive layers.
    public var layers: [Dense]
    public var metadata: Metadata

    public var kind: Kind { layers.count == 1 ? .linear : .mlp }
    public var inputDimension: Int { layers.first?.inputs ?? 0 }
    public var outputDimension: Int { layers.last?.outputs ?? 0 }

    public init(layers: [Dense], metadata: Metadata) {
        self.layers = layers; self.metadata = metadata
    }

    /// A head that changes nothing: the identity matrix, or for the two-layer head
    /// `[I; -I]` then `[I, -I]`, since relu(x) - relu(-x) = x. Training starts here, so the
    /// first thing early stopping compares against is the raw embedding itself.
    public static func identity(kind: Kind, dimension n: Int, metadata: Metadata = Metadata()) -> MetricHead {
        func eye(_ rows: Int, _ cols: Int, _ value: (Int, Int) -> Double) -> [Double] {
            (0..<(rows * cols)).map { value($0 / cols, $0 % cols) }
        }
        switch kind {
        case .linear:
            return MetricHead(layers: [Dense(inputs: n, outputs: n, weights: eye(n, n) { $0 == $1 ? 1 : 0 }, bias: .init(repeating: 0, count: n))],
                              metadata: metadata)
        case .mlp:
            let first = Dense(inputs: n, outputs: 2 * n, weights: eye(2 * n, n) { r, c in r == c ? 1 : r == c + n ? -1 : 0 },
                              bias: .init(repeating: 0, count: 2 * n))
            let second = Dense(inputs: 2 * n, outputs: n, weights: eye(n, 2 * n) { r, c in c == r ? 1 : c == r + n ? -1 : 0 },
                               bias: .init(repeating: 0, count: n))
            return MetricHead(layers: [first, second], metadata: metadata)
        }
    }

    /// The unit vector in the learned space for one raw embedding.
    public func project(_ x: [Float]) -> [Float] {
        project(x.map(Double.init)).map(Float.init)
    }

    public func project(_ x: [Double]) -> [Double] {
        var h = x
        for (i, layer) in layers.enumerated() {
            h = layer.apply(h)
            if i < layers.count - 1 { h = h.map { max(0, $0) } }
        }
        let norm = h.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? h.map { $0 / norm } : h
    }

    /// A short, stable name for these weights: part of the model id of projected
    /// templates, and what the matching configuration pins.
    public var weightsDigest: String {
        var hasher = FNV1a()
        for l in layers { for w in l.weights { hasher.add(w) }; for b in l.bias { hasher.add(b) } }
        return String(format: "%016llx", hasher.value)
    }

    /// Checks a loaded head before it is trusted with matching.
    public func validate(inputDimension expected: Int) throws(MetricHeadError) {
        guard let first = layers.first, first.inputs == expected else { throw .shape("the head takes \(inputDimension)-D input, the model gives \(expected)-D") }
        for (i, l) in layers.enumerated() {
            guard l.weights.count == l.inputs * l.outputs, l.bias.count == l.outputs else { throw .shape("layer \(i + 1) has the wrong number of weights") }
            if i > 0 && l.inputs != layers[i - 1].outputs { throw .shape("layer \(i + 1) does not follow layer \(i)") }
            guard l.weights.allSatisfy(\.isFinite), l.bias.allSatisfy(\.isFinite) else { throw .shape("layer \(i + 1) has non-finite weights") }
        }
        guard outputDimension == expected else { throw .shape("the head gives \(outputDimension)-D output; the gallery needs \(expected)-D") }
    }

    /// Where a head came from and how it did, kept beside its weights.
    public struct Metadata: Sendable, Codable, Equatable {
        public var baseModel = ""
        public var loss = ""
        public var squaredHinge = false
        public var mining = ""
        public var margin = 0.0
        public var weightDecay = 0.0
        public var learningRate = 0.0
        public var seed: UInt64 = 0
        public var epochs = 0
        public var bestEpoch = 0
        /// SHA-256 over the training and validation images (identity and image hash).
        public var trainingSetHash = ""
        public var trainingIdentities: [String] = []
        public var validationIdentities: [String] = []
        /// Identities held out of training and validation: the only ones a fair
        /// comparison (`warden eval --compare`) may test on.
        public var testIdentities: [String] = []
        /// Validation figures before (the raw embedding) and after training.
        public var validation: [String: Double] = [:]
        public var createdAt = ""
        public init() {}
    }
}

public enum MetricHeadError: Error, CustomStringConvertible, Sendable, Equatable {
    case shape(String)
    public var description: String {
        switch self { case .shape(let why): return "metric head is not usable: \(why)" }
    }
}

/// 64-bit FNV-1a over the bit patterns of doubles: a fingerprint, not a security hash (the
/// configuration pins head files by SHA-256).
struct FNV1a {
    var value: UInt64 = 0xcbf29ce484222325
    mutating func add(_ d: Double) {
        var bits = d.bitPattern
        for _ in 0..<8 { value = (value ^ (bits & 0xff)) &* 0x100000001b3; bits >>= 8 }
    }
}
