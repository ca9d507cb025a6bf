import Foundation

/// Two (or more) recognition models' distances made one score. Each model's distance is
/// normalised by its own impostor distribution (how many impostor standard deviations it
/// lies below the impostor mean: a z-score, negated), and the normalised scores are
/// averaged. Lower is more alike, as with a distance; the fused score falls as any one
/// model's distance falls, the others held (it is monotone in each).
///
/// A comparison decides on the models both sides have: a person with only a dlib template
/// is compared on dlib alone. The normalisation (each model's `ImpostorModel`) is fitted by
/// `warden calibrate` on labelled faces and kept in matching.yaml.
public struct ScoreFusion: Sendable, Equatable, Codable {
    public var models: [String: ImpostorModel]

    public init(models: [String: ImpostorModel]) { self.models = models }

    /// Whether every model in `ids` has a normalisation.
    public func covers(_ ids: some Sequence<String>) -> Bool { ids.allSatisfy { models[$0] != nil } }

    /// The fused score of distances by model id, over the models with a normalisation (nil
    /// when none has one).
    public func score(_ distances: [String: Double]) -> Double? {
        var sum = 0.0, n = 0
        for (id, d) in distances {
            guard let m = models[id], m.standardDeviation > 0 else { continue }
            sum += (d - m.mean) / m.standardDeviation
            n += 1
        }
        return n == 0 ? nil : sum / Double(n)
    }

    /// The fitted normalisation of one model's impostor distances: their mean and standard
    /// deviation.
    public static func impostorModel(of distances: [Double], source: String) -> ImpostorModel? {
        guard distances.count >= 2 else { return nil }
        let mean = distances.reduce(0, +) / Double(distances.count)
        let variance = distances.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(distances.count - 1)
        return ImpostorModel(mean: mean, standardDeviation: variance.squareRoot(), source: source)
    }
}
