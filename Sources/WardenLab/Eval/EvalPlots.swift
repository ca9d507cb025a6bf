import WardenCLI
import WardenCore
import Foundation
import Matching
import MatchingLab

/// The evaluation plots: ROC, DET and distance histograms, each written as SVG (plain
/// text, any browser) and PNG (for reports, tickets and chat).
enum EvalPlots {
    static let files = ["roc", "det", "histogram"]

    /// Writes every plot; returns a note when the PNGs could not be drawn (the SVGs are
    /// always written).
    @discardableResult
    static func write(scores: VerificationScores, identification: IdentificationScores, to dir: String) throws -> String? {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let plots = make(scores: scores, identification: identification)
        var pngProblem: String? = nil
        let raster = try? PlotRaster()
        if raster == nil { pngProblem = "PNG plots need the DejaVu font (Debian package fonts-dejavu-core); SVGs written" }
        for (name, plot) in zip(files, plots) {
            try plot.svg().write(toFile: "\(dir)/\(name).svg", atomically: true, encoding: .utf8)
            if let raster { try Data(raster.png(plot)).write(to: URL(fileURLWithPath: "\(dir)/\(name).png")) }
        }
        return pngProblem
    }

    static func make(scores: VerificationScores, identification: IdentificationScores) -> [Plot] {
        let curve = scores.curve()
        // ROC: true match rate (1 - FNMR) against FMR, FMR on a log axis.
        let roc = curve.filter { $0.fmr > 0 }.map { (x: log10($0.fmr), y: 1 - $0.fnmr) }
        // DET: FNMR against FMR, both on log axes; with the identification trade-off.
        let det = curve.filter { $0.fmr > 0 && $0.fnmr > 0 }.map { (x: log10($0.fmr), y: log10($0.fnmr)) }
        let ident = identification.tradeoff().filter { $0.fpir > 0 && $0.fnir > 0 }.map { (x: log10($0.fpir), y: log10($0.fnir)) }
        // Histograms of genuine and impostor distances, each normalised to its own count.
        func histogram(_ values: [Double]) -> [(x: Double, y: Double)] {
            let bins = 60, lo = 0.0, hi = 1.2
            var counts = [Double](repeating: 0, count: bins)
            for v in values { counts[min(bins - 1, max(0, Int((v - lo) / (hi - lo) * Double(bins))))] += 1 }
            return counts.enumerated().map { (x: lo + (Double($0.offset) + 0.5) * (hi - lo) / Double(bins), y: $0.element / Double(max(1, values.count))) }
        }
        let g = histogram(scores.genuine), i = histogram(scores.impostor)
        return [
            Plot(title: "ROC: true match rate against false match rate", xLabel: "FMR (log10)", yLabel: "1 - FNMR",
                 series: [("verification", roc)], xRange: (-5, 0), yRange: (0.8, 1)),
            Plot(title: "DET: FNMR against FMR (1:1); FNIR against FPIR (1:N)", xLabel: "FMR or FPIR (log10)", yLabel: "FNMR or FNIR (log10)",
                 series: [("1:1 verification", det), ("1:N identification", ident)], xRange: (-5, 0), yRange: (-4, 0)),
            Plot(title: "Distances: genuine (same person) and impostor pairs", xLabel: "Euclidean distance (unit vectors)", yLabel: "share of pairs",
                 series: [("genuine", g), ("impostor", i)], xRange: (0, 1.2), yRange: (0, max(g.map(\.y).max() ?? 0, i.map(\.y).max() ?? 0) * 1.1)),
        ]
    }
}

/// One line chart, independent of how it is drawn.
struct Plot {
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [(name: String, points: [(x: Double, y: Double)])]
    var xRange: (Double, Double)
    var yRange: (Double, Double)

    // The frame both renderers share.
    static let width = 640.0, height = 440.0, left = 76.0, right = 20.0, top = 40.0, bottom = 60.0
    static let colors: [(hex: String, rgb: (UInt8, UInt8, UInt8))] = [("#1f77b4", (0x1f, 0x77, 0xb4)), ("#d62728", (0xd6, 0x27, 0x28)), ("#2ca02c", (0x2c, 0xa0, 0x2c))]

    func px(_ x: Double) -> Double { Self.left + (x - xRange.0) / (xRange.1 - xRange.0) * (Self.width - Self.left - Self.right) }
    func py(_ y: Double) -> Double { Self.height - Self.bottom - (y - yRange.0) / max(1e-12, yRange.1 - yRange.0) * (Self.height - Self.top - Self.bottom) }
    /// Gridline positions and their labels, five divisions each way.
    var xTicks: [(value: Double, label: String)] { (0...5).map { let v = xRange.0 + Double($0) / 5 * (xRange.1 - xRange.0); return (v, String(format: "%.2g", v)) } }
    var yTicks: [(value: Double, label: String)] { (0...5).map { let v = yRange.0 + Double($0) / 5 * (yRange.1 - yRange.0); return (v, String(format: "%.3g", v)) } }
    /// Each series' points inside the axes, one per half pixel: a curve over every
    /// distinct distance has hundreds of thousands of points, nearly all on top of each other.
    func visible(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        var out: [(x: Double, y: Double)] = []
        var last: (Int, Int)? = nil
        for p in points where p.x >= xRange.0 && p.x <= xRange.1 && p.y >= yRange.0 && p.y <= yRange.1 {
            let cell = (Int((px(p.x) * 2).rounded()), Int((py(p.y) * 2).rounded()))
            if let last, last == cell { continue }
            out.append(p); last = cell
        }
        return out
    }

    func svg() -> String {
        let w = Self.width, h = Self.height, l = Self.left, r = Self.right, t = Self.top, b = Self.bottom
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>",
                   "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(w - l - r)\" height=\"\(h - t - b)\" fill=\"none\" stroke=\"#444\"/>"]
        for (fx, label) in xTicks {
            out.append("<line x1=\"\(px(fx))\" y1=\"\(t)\" x2=\"\(px(fx))\" y2=\"\(h - b)\" stroke=\"#eee\"/><text x=\"\(px(fx))\" y=\"\(h - b + 16)\" text-anchor=\"middle\">\(label)</text>")
        }
        for (fy, label) in yTicks {
            out.append("<line x1=\"\(l)\" y1=\"\(py(fy))\" x2=\"\(w - r)\" y2=\"\(py(fy))\" stroke=\"#eee\"/><text x=\"\(l - 6)\" y=\"\(py(fy) + 4)\" text-anchor=\"end\">\(label)</text>")
        }
        out.append("<text x=\"\(w / 2)\" y=\"\(h - 18)\" text-anchor=\"middle\">\(xLabel)</text>")
        out.append("<text transform=\"translate(16,\(h / 2)) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>")
        for (n, s) in series.enumerated() {
            let path = visible(s.points).map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            let color = Self.colors[n % Self.colors.count].hex
            out.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>")
            out.append("<text x=\"\(w - r - 8)\" y=\"\(t + 18 + Double(n) * 16)\" text-anchor=\"end\" fill=\"\(color)\">\(s.name)</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n")
    }
}
