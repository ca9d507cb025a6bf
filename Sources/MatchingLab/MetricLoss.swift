import Foundation
import Matching

/// The two losses metric learning for faces is built on, over Euclidean distances D
/// between unit vectors, with their derivatives.
///
/// - contrastive: `Y·D² + (1−Y)·max(margin − D, 0)` (Y = 1 for a same-person pair), or
///   with the squared hinge `(1−Y)·max(margin − D, 0)²` for different people;
/// - triplet: `max(d(a,p) − d(a,n) + margin, 0)`.
public enum MetricLoss: Sendable, Equatable {
    case contrastive(margin: Double, squaredHinge: Bool)
    case triplet(margin: Double)

    public var name: String {
        switch self { case .contrastive: return "contrastive"; case .triplet: return "triplet" }
    }
    public var margin: Double {
        switch self { case .contrastive(let m, _), .triplet(let m): return m }
    }

    /// Contrastive loss of one pair at distance `d`, and dLoss/dD.
    public static func contrastive(samePerson: Bool, distance d: Double, margin: Double, squaredHinge: Bool) -> (loss: Double, dD: Double) {
        if samePerson { return (d * d, 2 * d) }
        let gap = margin - d
        guard gap > 0 else { return (0, 0) }
        return squaredHinge ? (gap * gap, -2 * gap) : (gap, -1)
    }

    /// Triplet loss of one (anchor, positive, negative), and its derivatives with respect
    /// to d(a,p) and d(a,n).
    public static func triplet(positive dap: Double, negative dan: Double, margin: Double) -> (loss: Double, dPositive: Double, dNegative: Double) {
        let l = dap - dan + margin
        return l > 0 ? (l, 1, -1) : (0, 0, 0)
    }
}

/// Which different-person sample trains against an anchor, chosen within the batch
/// (online mining).
public enum NegativeMining: String, Sendable, Codable, CaseIterable {
    /// The closest different person.
    case hard
    /// The closest different person still further than the anchor's positive (FaceNet's
    /// semi-hard negatives, which avoid collapsing on mislabelled or extreme pairs); the
    /// hardest one when none is.
    case semiHard = "semi-hard"
}

/// One batch's loss and its gradient with respect to each projected vector.
public struct BatchLoss: Sendable {
    public var loss: Double
    public var gradient: [[Double]]
    /// Terms with a non-zero loss, and all terms.
    public var active: Int
    public var terms: Int

    /// The mean loss over the batch's mined pairs (contrastive) or triplets (triplet).
    /// `vectors` are unit vectors; `labels` name their identities.
    public static func compute(_ vectors: [[Double]], labels: [Int], loss: MetricLoss, mining: NegativeMining) -> BatchLoss {
        let n = vectors.count
        let dim = vectors.first?.count ?? 0
        var dist = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { let d = distance(vectors[i], vectors[j]); dist[i][j] = d; dist[j][i] = d } }
        var grad = [[Double]](repeating: [Double](repeating: 0, count: dim), count: n)
        var total = 0.0, terms = 0, active = 0

        /// Adds g · dD(i,j)/d(vectors) to the gradient.
        func pushDistance(_ i: Int, _ j: Int, _ g: Double) {
            let d = dist[i][j]
            guard g != 0, d > 1e-12 else { return }
            for k in 0..<dim {
                let diff = (vectors[i][k] - vectors[j][k]) / d * g
                grad[i][k] += diff; grad[j][k] -= diff
            }
        }
        func negative(for a: Int, beyond reference: Double) -> Int? {
            var hardest: Int? = nil, semi: Int? = nil
            for j in 0..<n where labels[j] != labels[a] {
                if hardest == nil || dist[a][j] < dist[a][hardest!] { hardest = j }
                if dist[a][j] > reference, semi == nil || dist[a][j] < dist[a][semi!] { semi = j }
            }
            return mining == .semiHard ? (semi ?? hardest) : hardest
        }

        var parts: [(i: Int, j: Int, g: Double)] = []
        switch loss {
        case .triplet(let margin):
            for a in 0..<n {
                for p in 0..<n where p != a && labels[p] == labels[a] {
                    guard let neg = negative(for: a, beyond: dist[a][p]) else { continue }
                    let t = MetricLoss.triplet(positive: dist[a][p], negative: dist[a][neg], margin: margin)
                    total += t.loss; terms += 1
                    if t.loss > 0 { active += 1; parts.append((a, p, t.dPositive)); parts.append((a, neg, t.dNegative)) }
                }
            }
        case .contrastive(let margin, let squared):
            for a in 0..<n {
                var farthestPositive = -1.0
                for p in (a + 1)..<max(a + 1, n) where labels[p] == labels[a] {
                    let c = MetricLoss.contrastive(samePerson: true, distance: dist[a][p], margin: margin, squaredHinge: squared)
                    total += c.loss; terms += 1
                    if c.loss > 0 { active += 1; parts.append((a, p, c.dD)) }
                }
                for p in 0..<n where p != a && labels[p] == labels[a] { farthestPositive = max(farthestPositive, dist[a][p]) }
                guard let neg = negative(for: a, beyond: farthestPositive) else { continue }
                let c = MetricLoss.contrastive(samePerson: false, distance: dist[a][neg], margin: margin, squaredHinge: squared)
                total += c.loss; terms += 1
                if c.loss > 0 { active += 1; parts.append((a, neg, c.dD)) }
            }
        }
        let scale = terms > 0 ? 1 / Double(terms) : 0
        for p in parts { pushDistance(p.i, p.j, p.g * scale) }
        return BatchLoss(loss: total * scale, gradient: grad, active: active, terms: terms)
    }

    static func distance(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for k in a.indices { let d = a[k] - b[k]; s += d * d }
        return s.squareRoot()
    }
}
