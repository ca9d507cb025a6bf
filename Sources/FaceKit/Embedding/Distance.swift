import Foundation

/// Distances between embeddings. All three are true metrics (non-negative, symmetric, zero
/// on identical inputs, triangle inequality), which the property tests check on real
/// embeddings.
///
/// "Cosine" here is the angular distance arccos(a·b)/π in [0, 1]. The popular cosine
/// *dissimilarity* 1 − a·b is not a metric (it is ‖a−b‖²/2 on the unit sphere, a squared
/// distance, so it breaks the triangle inequality), so it is offered only as a similarity.
public enum DistanceMetric: String, Sendable, CaseIterable, Codable {
    case euclidean
    case manhattan
    case cosine

    public func distance(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "vectors of different length")
        switch self {
        case .euclidean:
            var s: Float = 0
            for i in a.indices { let d = a[i] - b[i]; s += d * d }
            return Double(s).squareRoot()
        case .manhattan:
            var s: Float = 0
            for i in a.indices { s += abs(a[i] - b[i]) }
            return Double(s)
        case .cosine:
            return angularDistance(a, b)
        }
    }

    public func distance(_ a: Embedding, _ b: Embedding) throws(EmbeddingError) -> Double {
        guard a.modelID == b.modelID else { throw .modelMismatch(a.modelID, b.modelID) }
        return distance(a.values, b.values)
    }
}

/// a·b / (‖a‖‖b‖).
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot: Double = 0, na: Double = 0, nb: Double = 0
    for i in a.indices {
        dot += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i])
    }
    guard na > 0, nb > 0 else { return 0 }
    return dot / (na.squareRoot() * nb.squareRoot())
}

/// The angle between two vectors as a fraction of π: 0 identical direction, 1 opposite.
public func angularDistance(_ a: [Float], _ b: [Float]) -> Double {
    acos(max(-1, min(1, cosineSimilarity(a, b)))) / Double.pi
}

/// dlib documents 0.6 as the same-person threshold for Euclidean distance between its raw,
/// unnormalised vectors. Raw vectors have norms of about 1.47 (median over 184 photos of
/// `../shared/faces`; 1.36 to 1.39 on the fixtures), so after normalisation distances shrink
/// by that factor and dlib's 0.6 becomes about 0.6 / 1.47 ≈ 0.41. `docs/face-engine.md`
/// gives the measurements.
/// The evaluation issue recalibrates these from data.
public enum DefaultThresholds {
    /// dlib's raw-vector threshold.
    public static let dlibRawEuclidean: Double = 0.6
    /// Typical norm of dlib's raw vectors.
    public static let typicalRawNorm: Double = 1.47
    /// Euclidean distance between unit embeddings at or below which two faces are the same person.
    public static let euclidean: Double = 0.41
}
