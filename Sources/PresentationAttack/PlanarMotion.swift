import FaceKit
import Foundation

/// A model-free cue, measured and NOT used in decisions: a photo or a screen moves as a plane. Between two frames, the five
/// landmarks of a flat face follow one affine map closely; a real head turning moves its
/// nose against its eyes (parallax), which no single affine map explains.
///
/// `residual` fits the affine map from one frame's landmarks to another's by least squares
/// (`homographyResidual` a homography) and returns the RMS misfit in inter-eye distances;
/// `motion` says whether the pair moved enough to tell (a head that holds still moves as a
/// plane too).
///
/// Measured with `warden pad motion` on the bona fide clip against made-up flat sheets
/// (docs/liveness.md): with dlib's five points (four of them eye corners, nearly in one
/// plane on a real face too) the misfits overlap; below 0.1 inter-eye distances of motion
/// only 12-27% of live pairs rise above the flat sheets' 95th percentile (47% at 0.1-0.2,
/// affine). The landmark noise is as large as the parallax. So it is not shipped as a
/// signal; the measurement stays, for a landmark model with more points off the eye plane.
public enum PlanarMotion {
    /// RMS misfit of the best affine map from `a` to `b`, divided by `a`'s inter-eye
    /// distance; nil when the points are degenerate.
    public static func residual(_ a: FaceLandmarks, _ b: FaceLandmarks) -> Double? {
        let p = a.points, q = b.points
        // Normal equations for [x y 1] * [a b c]^T = x' (and the same for y').
        var m = [[Double]](repeating: [0, 0, 0], count: 3)
        var rx = [0.0, 0, 0], ry = [0.0, 0, 0]
        for (s, d) in zip(p, q) {
            let v = [s.x, s.y, 1]
            for i in 0..<3 { for j in 0..<3 { m[i][j] += v[i] * v[j] }; rx[i] += v[i] * d.x; ry[i] += v[i] * d.y }
        }
        guard let cx = solve(m, rx), let cy = solve(m, ry) else { return nil }
        var sum = 0.0
        for (s, d) in zip(p, q) {
            let ex = cx[0] * s.x + cx[1] * s.y + cx[2] - d.x, ey = cy[0] * s.x + cy[1] * s.y + cy[2] - d.y
            sum += ex * ex + ey * ey
        }
        let scale = a.interEyeDistance
        guard scale > 1 else { return nil }
        return (sum / Double(p.count)).squareRoot() / scale
    }

    /// How far the face moved between the frames, beyond a similarity (shift, scale,
    /// in-plane turn): the change in the nose's position relative to the eyes, in inter-eye
    /// distances. Below a minimum the pair says nothing about planarity.
    public static func motion(_ a: FaceLandmarks, _ b: FaceLandmarks) -> Double {
        func relative(_ l: FaceLandmarks) -> Point {
            let r = l.rightEyeCenter, e = l.leftEyeCenter
            let ux = r.x - e.x, uy = r.y - e.y, d2 = max(1e-9, ux * ux + uy * uy)
            let nx = l.noseBase.x - e.x, ny = l.noseBase.y - e.y
            return Point(x: (nx * ux + ny * uy) / d2, y: (ny * ux - nx * uy) / d2)
        }
        return relative(a).distance(to: relative(b))
    }

    /// RMS misfit of the best homography from `a` to `b` (eight parameters fitted to ten
    /// coordinates by linear least squares), in `a`'s inter-eye distances.
    public static func homographyResidual(_ a: FaceLandmarks, _ b: FaceLandmarks) -> Double? {
        let scale = a.interEyeDistance
        guard scale > 1 else { return nil }
        // Normalise to the first eye and the inter-eye distance, for a well-conditioned system.
        let o = a.leftEyeCenter
        let p = a.points.map { Point(x: ($0.x - o.x) / scale, y: ($0.y - o.y) / scale) }
        let q = b.points.map { Point(x: ($0.x - o.x) / scale, y: ($0.y - o.y) / scale) }
        var rows: [[Double]] = [], rhs: [Double] = []
        for (s, d) in zip(p, q) {
            rows.append([s.x, s.y, 1, 0, 0, 0, -s.x * d.x, -s.y * d.x]); rhs.append(d.x)
            rows.append([0, 0, 0, s.x, s.y, 1, -s.x * d.y, -s.y * d.y]); rhs.append(d.y)
        }
        var m = [[Double]](repeating: [Double](repeating: 0, count: 8), count: 8), r = [Double](repeating: 0, count: 8)
        for (row, v) in zip(rows, rhs) { for i in 0..<8 { r[i] += row[i] * v; for j in 0..<8 { m[i][j] += row[i] * row[j] } } }
        for i in 0..<8 { m[i][i] += 1e-9 }   // a whisker of ridge: five points leave the system nearly singular
        guard let h = solve(m, r) else { return nil }
        var sum = 0.0
        for (s, d) in zip(p, q) {
            let w = h[6] * s.x + h[7] * s.y + 1
            guard abs(w) > 1e-9 else { return nil }
            let x = (h[0] * s.x + h[1] * s.y + h[2]) / w, y = (h[3] * s.x + h[4] * s.y + h[5]) / w
            sum += (x - d.x) * (x - d.x) + (y - d.y) * (y - d.y)
        }
        return (sum / Double(p.count)).squareRoot()
    }

    /// Gaussian elimination with partial pivoting.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        var m = a, v = b
        let n = v.count
        for c in 0..<n {
            guard let p = (c..<n).max(by: { abs(m[$0][c]) < abs(m[$1][c]) }), abs(m[p][c]) > 1e-15 else { return nil }
            m.swapAt(c, p); v.swapAt(c, p)
            for r in (c + 1)..<n {
                let f = m[r][c] / m[c][c]
                if f == 0 { continue }
                for k in c..<n { m[r][k] -= f * m[c][k] }
                v[r] -= f * v[c]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            var s = v[r]
            for k in (r + 1)..<n { s -= m[r][k] * x[k] }
            x[r] = s / m[r][r]
        }
        return x
    }
}
