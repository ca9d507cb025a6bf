import Foundation
import WardenCore

/// Slightly moved copies of an aligned face chip, in the manner of dlib's `jitter_image`
/// (the ranges its face_recognition's `num_jitters` uses): the crop shifted by up to 2% of
/// the face, zoomed out by up to 3%, turned by up to 3 degrees, and mirrored half the
/// time. Averaging the embeddings of such copies is how dlib reaches its published 99.38% on
/// LFW (99.13% without). Seeded, so a template is reproducible.
public enum ChipJitter {
    public static func copies(of chip: RGBImage, count: Int, seed: UInt64) -> [RGBImage] {
        var rng = SplitMix64(seed: seed)
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * Double(rng.next() >> 11) / Double(1 << 53) }
        return (0..<count).map { _ in
            let w = Double(chip.width), h = Double(chip.height)
            // The face's rectangle: the chip shrunk by 3 px a side.
            let face = h - 6
            let dx = uniform(-0.02, 0.02) * (w - 6), dy = uniform(-0.02, 0.02) * face
            let scale = (face / uniform(0.97, 0.99999)) / h   // source pixels per output pixel
            let angle = uniform(-3, 3) * .pi / 180
            let flip = uniform(0, 1) > 0.5
            return warp(chip, centerX: (w - 1) / 2 + dx, centerY: (h - 1) / 2 + dy, scale: scale, angle: angle, flip: flip)
        }
    }

    /// Each output pixel samples the source around the centre, rotated and scaled; bilinear,
    /// edges clamped.
    static func warp(_ src: RGBImage, centerX: Double, centerY: Double, scale: Double, angle: Double, flip: Bool) -> RGBImage {
        let w = src.width, h = src.height
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let c = cos(angle) * scale, s = sin(angle) * scale
        let ox = Double(w - 1) / 2, oy = Double(h - 1) / 2
        src.pixels.withUnsafeBufferPointer { p in
            for y in 0..<h {
                for x in 0..<w {
                    let u = Double(flip ? (w - 1 - x) : x) - ox, v = Double(y) - oy
                    let sx = min(max(centerX + c * u - s * v, 0), Double(w - 1))
                    let sy = min(max(centerY + s * u + c * v, 0), Double(h - 1))
                    let x0 = Int(sx), y0 = Int(sy), x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                    let fx = sx - Double(x0), fy = sy - Double(y0)
                    for k in 0..<3 {
                        let a = Double(p[(y0 * w + x0) * 3 + k]), b = Double(p[(y0 * w + x1) * 3 + k])
                        let cc = Double(p[(y1 * w + x0) * 3 + k]), d = Double(p[(y1 * w + x1) * 3 + k])
                        let top = a + (b - a) * fx, bottom = cc + (d - cc) * fx
                        out[(y * w + x) * 3 + k] = UInt8(min(255, max(0, (top + (bottom - top) * fy).rounded())))
                    }
                }
            }
        }
        return try! RGBImage(width: w, height: h, pixels: out)
    }
}

extension FaceEngine {
    /// An embedding averaged over `count` jittered copies of the face's chip (dlib's
    /// `num_jitters`): the raw vectors are averaged, then normalised. For enrollment, where
    /// a few hundred milliseconds more cost nothing; a door embeds each frame once.
    public func embedJittered(_ image: RGBImage, face: Face, count: Int, seed: UInt64 = 1) throws(FaceEngineError) -> Embedding {
        try embedJittered(chip: try alignedChip(image, face: face), count: count, seed: seed)
    }

    /// The same from an aligned chip.
    public func embedJittered(chip: RGBImage, count: Int, seed: UInt64 = 1) throws(FaceEngineError) -> Embedding {
        guard count > 1 else { return try embed(chips: [chip])[0] }
        let all = try embed(chips: ChipJitter.copies(of: chip, count: count, seed: seed))
        var mean = [Float](repeating: 0, count: Embedding.dimension)
        for e in all { for (i, v) in e.rawValues.enumerated() { mean[i] += v / Float(all.count) } }
        do { return try Embedding(raw: mean, modelID: modelID) } catch { throw .internal(error.description) }
    }
}
