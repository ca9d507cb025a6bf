import Foundation
import Matching

/// ROC, DET and distance-histogram plots as SVG: plain text, readable in any browser, no
/// plotting library needed.
enum EvalPlots {
    static func write(scores: VerificationScores, identification: IdentificationScores, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let curve = scores.curve()
        // ROC: true match rate (1 - FNMR) against FMR, FMR on a log axis.
        let roc = curve.filter { $0.fmr > 0 }.map { (x: log10($0.fmr), y: 1 - $0.fnmr) }
        try svg(title: "ROC: true match rate against false match rate", xLabel: "FMR (log10)", yLabel: "1 - FNMR",
                series: [("verification", roc)], xRange: (-5, 0), yRange: (0.8, 1)).write(toFile: dir + "/roc.svg", atomically: true, encoding: .utf8)
        // DET: FNMR against FMR, both on log axes; with the identification trade-off.
        let det = curve.filter { $0.fmr > 0 && $0.fnmr > 0 }.map { (x: log10($0.fmr), y: log10($0.fnmr)) }
        let ident = identification.tradeoff().filter { $0.fpir > 0 && $0.fnir > 0 }.map { (x: log10($0.fpir), y: log10($0.fnir)) }
        try svg(title: "DET: FNMR against FMR (1:1); FNIR against FPIR (1:N)", xLabel: "FMR or FPIR (log10)", yLabel: "FNMR or FNIR (log10)",
                series: [("1:1 verification", det), ("1:N identification", ident)], xRange: (-5, 0), yRange: (-4, 0))
            .write(toFile: dir + "/det.svg", atomically: true, encoding: .utf8)
        // Histograms of genuine and impostor distances, each normalised to its own count.
        func histogram(_ values: [Double]) -> [(x: Double, y: Double)] {
            let bins = 60, lo = 0.0, hi = 1.2
            var counts = [Double](repeating: 0, count: bins)
            for v in values { counts[min(bins - 1, max(0, Int((v - lo) / (hi - lo) * Double(bins))))] += 1 }
            return counts.enumerated().map { (x: lo + (Double($0.offset) + 0.5) * (hi - lo) / Double(bins), y: $0.element / Double(max(1, values.count))) }
        }
        let g = histogram(scores.genuine), i = histogram(scores.impostor)
        try svg(title: "Distances: genuine (same person) and impostor pairs", xLabel: "Euclidean distance (unit vectors)", yLabel: "share of pairs",
                series: [("genuine", g), ("impostor", i)], xRange: (0, 1.2), yRange: (0, max(g.map(\.y).max() ?? 0, i.map(\.y).max() ?? 0) * 1.1))
            .write(toFile: dir + "/histogram.svg", atomically: true, encoding: .utf8)
    }

    static func svg(title: String, xLabel: String, yLabel: String, series: [(String, [(x: Double, y: Double)])],
                    xRange: (Double, Double), yRange: (Double, Double)) -> String {
        let w = 640.0, h = 440.0, l = 70.0, r = 20.0, t = 40.0, b = 60.0
        func px(_ x: Double) -> Double { l + (x - xRange.0) / (xRange.1 - xRange.0) * (w - l - r) }
        func py(_ y: Double) -> Double { h - b - (y - yRange.0) / max(1e-12, yRange.1 - yRange.0) * (h - t - b) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c"]
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>",
                   "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(w - l - r)\" height=\"\(h - t - b)\" fill=\"none\" stroke=\"#444\"/>"]
        for k in 0...5 {
            let fx = xRange.0 + Double(k) / 5 * (xRange.1 - xRange.0), fy = yRange.0 + Double(k) / 5 * (yRange.1 - yRange.0)
            out.append("<line x1=\"\(px(fx))\" y1=\"\(t)\" x2=\"\(px(fx))\" y2=\"\(h - b)\" stroke=\"#eee\"/><text x=\"\(px(fx))\" y=\"\(h - b + 16)\" text-anchor=\"middle\">\(String(format: "%.2g", fx))</text>")
            out.append("<line x1=\"\(l)\" y1=\"\(py(fy))\" x2=\"\(w - r)\" y2=\"\(py(fy))\" stroke=\"#eee\"/><text x=\"\(l - 6)\" y=\"\(py(fy) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", fy))</text>")
        }
        out.append("<text x=\"\(w / 2)\" y=\"\(h - 18)\" text-anchor=\"middle\">\(xLabel)</text>")
        out.append("<text transform=\"translate(16,\(h / 2)) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>")
        for (n, (name, points)) in series.enumerated() {
            let inside = points.filter { $0.x >= xRange.0 && $0.x <= xRange.1 && $0.y >= yRange.0 && $0.y <= yRange.1 }
            let path = inside.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            out.append("<polyline fill=\"none\" stroke=\"\(colors[n % colors.count])\" stroke-width=\"2\" points=\"\(path)\"/>")
            out.append("<text x=\"\(w - r - 8)\" y=\"\(t + 18 + Double(n) * 16)\" text-anchor=\"end\" fill=\"\(colors[n % colors.count])\">\(name)</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n")
    }
}
