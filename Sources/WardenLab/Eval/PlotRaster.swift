import WardenCLI
import WardenCore
import CFreeType
import FaceKit
import Foundation

/// Draws a `Plot` into pixels and encodes it as PNG: antialiased lines on a coverage mask,
/// text from the DejaVu font through FreeType. The same frame, ticks and colours as the SVG.
final class PlotRaster {
    private var library: FT_Library?
    private var face: FT_Face?

    static let fontPaths = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"]

    struct NoFont: Error {}

    init() throws {
        guard FT_Init_FreeType(&library) == 0 else { throw NoFont() }
        guard let path = Self.fontPaths.first(where: FileManager.default.fileExists(atPath:)), FT_New_Face(library, path, 0, &face) == 0 else {
            FT_Done_FreeType(library); throw NoFont()
        }
    }

    deinit {
        if let face { FT_Done_Face(face) }
        FT_Done_FreeType(library)
    }

    func png(_ plot: Plot) throws -> [UInt8] {
        var c = Canvas(width: Int(Plot.width), height: Int(Plot.height))
        let l = Plot.left, r = Plot.right, t = Plot.top, b = Plot.bottom, w = Plot.width, h = Plot.height
        let grid: (UInt8, UInt8, UInt8) = (0xee, 0xee, 0xee), ink: (UInt8, UInt8, UInt8) = (0x22, 0x22, 0x22)
        for (fx, label) in plot.xTicks {
            c.stroke([(plot.px(fx), t), (plot.px(fx), h - b)], color: grid, width: 1)
            text(label, at: (plot.px(fx), h - b + 16), size: 12, anchor: .middle, color: ink, on: &c)
        }
        for (fy, label) in plot.yTicks {
            c.stroke([(l, plot.py(fy)), (w - r, plot.py(fy))], color: grid, width: 1)
            text(label, at: (l - 6, plot.py(fy) + 4), size: 12, anchor: .end, color: ink, on: &c)
        }
        c.stroke([(l, t), (w - r, t), (w - r, h - b), (l, h - b), (l, t)], color: (0x44, 0x44, 0x44), width: 1)
        text(plot.title, at: (w / 2, 22), size: 14, anchor: .middle, color: ink, on: &c)
        text(plot.xLabel, at: (w / 2, h - 18), size: 12, anchor: .middle, color: ink, on: &c)
        text(plot.yLabel, at: (16, h / 2), size: 12, anchor: .middle, color: ink, on: &c, vertical: true)
        for (n, s) in plot.series.enumerated() {
            let color = Plot.colors[n % Plot.colors.count].rgb
            c.stroke(plot.visible(s.points).map { (plot.px($0.x), plot.py($0.y)) }, color: color, width: 2)
            text(s.name, at: (w - r - 8, t + 18 + Double(n) * 16), size: 12, anchor: .end, color: color, on: &c)
        }
        return try c.image.pngData()
    }

    enum Anchor { case start, middle, end }

    /// Draws `string` with its baseline at `at`; `vertical` turns it to read bottom to top
    /// (as the SVG's rotate(-90)): the baseline runs up the canvas at x = at.0.
    func text(_ string: String, at: (Double, Double), size: Int, anchor: Anchor, color: (UInt8, UInt8, UInt8), on c: inout Canvas, vertical: Bool = false) {
        guard let face else { return }
        FT_Set_Pixel_Sizes(face, 0, FT_UInt(size))
        // Lay the glyphs out on a horizontal strip first, then place the strip.
        let ascent = size
        var glyphs: [(mask: [UInt8], w: Int, h: Int, x: Int, y: Int)] = []
        var pen = 0
        for scalar in string.unicodeScalars {
            guard FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_RENDER)) == 0, let slot = face.pointee.glyph else { continue }
            let bm = slot.pointee.bitmap
            var mask = [UInt8](repeating: 0, count: Int(bm.rows) * Int(bm.width))
            if let buffer = bm.buffer {
                for row in 0..<Int(bm.rows) { for col in 0..<Int(bm.width) { mask[row * Int(bm.width) + col] = buffer[row * Int(bm.pitch) + col] } }
            }
            glyphs.append((mask, Int(bm.width), Int(bm.rows), pen + Int(slot.pointee.bitmap_left), ascent - Int(slot.pointee.bitmap_top)))
            pen += Int(slot.pointee.advance.x >> 6)
        }
        let shift = anchor == .start ? 0 : anchor == .middle ? pen / 2 : pen
        for g in glyphs {
            for row in 0..<g.h {
                for col in 0..<g.w {
                    let a = g.mask[row * g.w + col]
                    guard a > 0 else { continue }
                    let sx = g.x + col - shift, sy = g.y + row - ascent   // relative to the anchor on the baseline
                    if vertical {
                        c.blend(x: Int(at.0) + sy, y: Int(at.1) - sx, color: color, alpha: Double(a) / 255)
                    } else {
                        c.blend(x: Int(at.0) + sx, y: Int(at.1) + sy, color: color, alpha: Double(a) / 255)
                    }
                }
            }
        }
    }
}

/// An RGB canvas with antialiased strokes.
struct Canvas {
    let width: Int, height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    var image: RGBImage { (try? RGBImage(width: width, height: height, pixels: pixels)) ?? RGBImage(width: width, height: height) }

    mutating func blend(x: Int, y: Int, color: (UInt8, UInt8, UInt8), alpha: Double) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let i = (y * width + x) * 3, a = min(1, alpha)
        pixels[i] = UInt8((Double(pixels[i]) * (1 - a) + Double(color.0) * a).rounded())
        pixels[i + 1] = UInt8((Double(pixels[i + 1]) * (1 - a) + Double(color.1) * a).rounded())
        pixels[i + 2] = UInt8((Double(pixels[i + 2]) * (1 - a) + Double(color.2) * a).rounded())
    }

    /// A polyline `width` pixels wide. Coverage is gathered on a mask (the most any part of
    /// the line covers each pixel) and blended once, so overlapping segments do not darken.
    mutating func stroke(_ points: [(Double, Double)], color: (UInt8, UInt8, UInt8), width lineWidth: Double) {
        guard points.count >= 2 else { return }
        var mask: [Int: Double] = [:]
        let radius = lineWidth / 2
        let reach = Int(radius.rounded(.up)) + 1
        for k in 1..<points.count {
            let (x0, y0) = points[k - 1], (x1, y1) = points[k]
            let steps = max(1, Int((hypot(x1 - x0, y1 - y0) * 4).rounded(.up)))
            for s in 0...steps {
                let f = Double(s) / Double(steps)
                let cx = x0 + (x1 - x0) * f, cy = y0 + (y1 - y0) * f
                for py in (Int(cy) - reach)...(Int(cy) + reach) {
                    for px in (Int(cx) - reach)...(Int(cx) + reach) where px >= 0 && py >= 0 && px < width && py < height {
                        // Pixel centres at +0.5: coverage falls off over the last pixel.
                        let d = hypot(Double(px) + 0.5 - cx, Double(py) + 0.5 - cy)
                        let cover = min(1, max(0, radius + 0.5 - d))
                        if cover > 0 { let key = py * width + px; mask[key] = max(mask[key] ?? 0, cover) }
                    }
                }
            }
        }
        for (key, a) in mask { blend(x: key % width, y: key / width, color: color, alpha: a) }
    }
}
