import FaceKit
import Foundation

/// Presentation attacks made up from a bona fide still, for measuring what the real samples
/// cannot (there are only two). Every one is an imitation: a report must label it made up.
/// Deterministic for a given seed.
public enum MadeUpAttack: String, CaseIterable, Sendable, Codable {
    /// The still as a flat sheet held in front of the camera, tilted (`phase` turns it).
    case flatSheet = "made-up-flat-sheet"
    /// The still on a simulated screen: RGB subpixel stripes, a display gamma, moiré from
    /// nearest-neighbour resampling, a dark bezel.
    case screen = "made-up-screen"
    /// The still printed: reduced contrast, lifted blacks, paper texture, a white margin.
    case print = "made-up-print"

    public func make(from image: RGBImage, seed: UInt64 = 1, phase: Double = 0) -> RGBImage {
        switch self {
        case .flatSheet: return Self.sheet(image, tilt: 0.25 * sin(phase), seed: seed)
        case .screen: return Self.screen(image)
        case .print: return Self.printed(image, seed: seed)
        }
    }

    /// A sheet turned about its vertical axis by `tilt` radians, at 75% of the frame, on a
    /// plain wall: each output pixel is mapped back through the inverse perspective.
    static func sheet(_ img: RGBImage, tilt: Double, seed: UInt64) -> RGBImage {
        let w = img.width, h = img.height
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let scale = 0.75, f = Double(w) * 1.2       // a focal length in pixels
        let cx = Double(w) / 2, cy = Double(h) / 2
        let ct = cos(tilt), st = sin(tilt)
        for y in 0..<h {
            for x in 0..<w {
                // The ray through (x, y) meets the sheet plane (rotated about the y axis at depth f).
                let rx = (Double(x) - cx) / f, ry = (Double(y) - cy) / f
                let t = f / (ct - rx * st)                    // depth along the ray
                let u = (rx * t * ct + (t - f) * st) / scale   // sheet coordinates, pixels from centre
                let v = ry * t / scale
                let sx = Int((u + cx).rounded()), sy = Int((v + cy).rounded())
                let d = (y * w + x) * 3
                if sx >= 0, sx < w, sy >= 0, sy < h {
                    let s = (sy * w + sx) * 3
                    out[d] = img.pixels[s]; out[d + 1] = img.pixels[s + 1]; out[d + 2] = img.pixels[s + 2]
                } else {
                    out[d] = 150; out[d + 1] = 146; out[d + 2] = 138  // a grey wall
                }
            }
        }
        return (try? RGBImage(width: w, height: h, pixels: out)) ?? img
    }

    static func screen(_ img: RGBImage) -> RGBImage {
        let w = img.width, h = img.height
        // Nearest-neighbour down to 0.83 and back: the aliasing a camera sees on a screen.
        let small = img.resizedNearest(width: max(1, w * 5 / 6), height: max(1, h * 5 / 6))
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let bezel = max(4, w / 20)
        for y in 0..<h {
            for x in 0..<w {
                let d = (y * w + x) * 3
                if x < bezel || y < bezel || x >= w - bezel || y >= h - bezel { out[d] = 18; out[d + 1] = 18; out[d + 2] = 22; continue }
                let sx = min(small.width - 1, x * small.width / w), sy = min(small.height - 1, y * small.height / h)
                let s = (sy * small.width + sx) * 3
                for c in 0..<3 {
                    // Display gamma, a blue cast, and the subpixel stripe this column falls on.
                    var v = pow(Double(small.pixels[s + c]) / 255, 0.8)
                    v *= c == 2 ? 1.06 : 0.97
                    v *= (x % 3 == c) ? 1.0 : 0.82
                    out[d + c] = UInt8(max(0, min(255, (v * 255).rounded())))
                }
            }
        }
        return (try? RGBImage(width: w, height: h, pixels: out)) ?? img
    }

    static func printed(_ img: RGBImage, seed: UInt64) -> RGBImage {
        let w = img.width, h = img.height
        var out = [UInt8](repeating: 0, count: w * h * 3)
        var rng = seed &* 0x9E3779B97F4A7C15 | 1
        func noise() -> Double { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return Double(rng % 1000) / 1000 - 0.5 }
        // Paper texture: coarse blotches (a 16 px grid, bilinear) plus fine grain.
        let gw = w / 16 + 2, gh = h / 16 + 2
        let grid = (0..<(gw * gh)).map { _ in noise() }
        let margin = max(4, w / 25)
        for y in 0..<h {
            for x in 0..<w {
                let d = (y * w + x) * 3
                if x < margin || y < margin || x >= w - margin || y >= h - margin { out[d] = 236; out[d + 1] = 232; out[d + 2] = 222; continue }
                let gx = Double(x) / 16, gy = Double(y) / 16
                let ix = Int(gx), iy = Int(gy), fx = gx - Double(ix), fy = gy - Double(iy)
                let blotch = grid[iy * gw + ix] * (1 - fx) * (1 - fy) + grid[iy * gw + ix + 1] * fx * (1 - fy)
                    + grid[(iy + 1) * gw + ix] * (1 - fx) * fy + grid[(iy + 1) * gw + ix + 1] * fx * fy
                let grain = noise()
                for c in 0..<3 {
                    let v = Double(img.pixels[d + c])
                    // Ink on paper: 30 to 225 instead of 0 to 255, slightly warm.
                    let warm = c == 0 ? 4.0 : (c == 2 ? -6.0 : 0)
                    out[d + c] = UInt8(max(0, min(255, (30 + v * 195 / 255 + warm + blotch * 14 + grain * 10).rounded())))
                }
            }
        }
        return (try? RGBImage(width: w, height: h, pixels: out)) ?? img
    }
}

extension RGBImage {
    /// Nearest-neighbour resampling (no smoothing, on purpose).
    func resizedNearest(width nw: Int, height nh: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: nw * nh * 3)
        for y in 0..<nh {
            let sy = min(height - 1, y * height / nh)
            for x in 0..<nw {
                let sx = min(width - 1, x * width / nw)
                let s = (sy * width + sx) * 3, d = (y * nw + x) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return (try? RGBImage(width: nw, height: nh, pixels: out)) ?? self
    }
}
