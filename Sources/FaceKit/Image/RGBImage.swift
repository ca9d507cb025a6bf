/// A packed 8-bit RGB image, row-major, three bytes a pixel, no padding between rows.
///
/// Every frame and photo in Warden becomes one of these before it reaches the face engine,
/// whatever it was encoded as.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes: R, G, B for each pixel, rows top to bottom.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws(ImageError) {
        guard width > 0, height > 0 else { throw .emptyImage }
        guard pixels.count == width * height * 3 else {
            throw .corrupt(format: "raw RGB", detail: "expected \(width * height * 3) bytes for \(width)x\(height), got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A solid-colour image.
    public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
        precondition(width > 0 && height > 0)
        self.width = width
        self.height = height
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: p.count, by: 3) { p[i] = fill.r; p[i + 1] = fill.g; p[i + 2] = fill.b }
        self.pixels = p
    }

    public var pixelCount: Int { width * height }

    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The rectangle at (`left`, `top`), `width` x `height`, which must lie inside the image.
    public func cropped(left: Int, top: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(left >= 0 && top >= 0 && w > 0 && h > 0 && left + w <= width && top + h <= height)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let from = ((top + y) * width + left) * 3
                    dst.baseAddress!.advanced(by: y * w * 3).update(from: src.baseAddress!.advanced(by: from), count: w * 3)
                }
            }
        }
        return RGBImage(unchecked: w, h, out)
    }

    /// Shrinks by a whole factor, each output pixel the mean of a k x k block (integer
    /// arithmetic: this runs on every camera frame that is detected at reduced size).
    public func downsampled(by k: Int) -> RGBImage {
        precondition(k >= 1)
        guard k > 1 else { return self }
        let w = max(1, width / k), h = max(1, height / k)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let area = k * k
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var row = [Int](repeating: 0, count: w * 3)
                for y in 0..<h {
                    for i in row.indices { row[i] = 0 }
                    for yy in (y * k)..<min(height, y * k + k) {
                        let base = yy * width * 3
                        for x in 0..<w {
                            var p = base + x * k * 3
                            for _ in 0..<k { row[x * 3] += Int(src[p]); row[x * 3 + 1] += Int(src[p + 1]); row[x * 3 + 2] += Int(src[p + 2]); p += 3 }
                        }
                    }
                    for i in 0..<(w * 3) { dst[y * w * 3 + i] = UInt8((row[i] + area / 2) / area) }
                }
            }
        }
        return RGBImage(unchecked: w, h, out)
    }

    /// A bilinear resample to exactly `width` x `height`.
    public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0)
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        let sx = Double(width) / Double(newWidth)
        let sy = Double(height) / Double(newHeight)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<newHeight {
                    let fy = max(0, (Double(y) + 0.5) * sy - 0.5)
                    let y0 = min(Int(fy), height - 1), y1 = min(y0 + 1, height - 1)
                    let wy = fy - Double(y0)
                    for x in 0..<newWidth {
                        let fx = max(0, (Double(x) + 0.5) * sx - 0.5)
                        let x0 = min(Int(fx), width - 1), x1 = min(x0 + 1, width - 1)
                        let wx = fx - Double(x0)
                        for c in 0..<3 {
                            let a = Double(src[(y0 * width + x0) * 3 + c]), b = Double(src[(y0 * width + x1) * 3 + c])
                            let d = Double(src[(y1 * width + x0) * 3 + c]), e = Double(src[(y1 * width + x1) * 3 + c])
                            let top = a + (b - a) * wx, bottom = d + (e - d) * wx
                            dst[(y * newWidth + x) * 3 + c] = UInt8(clamping: Int((top + (bottom - top) * wy).rounded()))
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: newWidth, newHeight, out)
    }

    /// What fills a letterbox around the picture.
    public enum Padding: Sendable {
        case black
        /// The picture's edge pixels repeated outward. A camera sees a scene, not bars:
        /// presentation-attack models take black bars around a face for a screen's bezel.
        case edge
    }

    /// The image at its own size in the middle of a `width` x `height` black frame, cropped
    /// where it is larger: what a camera sees of a subject at that distance (`letterboxed`
    /// scales to fit instead).
    public func centered(width boxW: Int, height boxH: Int) -> RGBImage {
        let w = min(width, boxW), h = min(height, boxH)
        return RGBImage(unchecked: boxW, boxH, cropped(left: (width - w) / 2, top: (height - h) / 2, width: w, height: h).inMiddle(width: boxW, height: boxH))
    }

    /// The pixels of a `width` x `height` black frame with this image, which must fit, in
    /// its middle.
    private func inMiddle(width boxW: Int, height boxH: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: boxW * boxH * 3)
        let ox = (boxW - width) / 2, oy = (boxH - height) / 2
        for y in 0..<height {
            let src = y * width * 3, dst = ((y + oy) * boxW + ox) * 3
            out.replaceSubrange(dst..<(dst + width * 3), with: pixels[src..<(src + width * 3)])
        }
        return out
    }

    /// Scales to fit inside `width` x `height` keeping the aspect ratio, then pads to exactly
    /// that size (the way a camera of that resolution would frame the scene).
    public func letterboxed(width boxW: Int, height boxH: Int, padding: Padding = .black) -> RGBImage {
        let scale = min(Double(boxW) / Double(width), Double(boxH) / Double(height))
        let w = max(1, min(boxW, Int((Double(width) * scale).rounded())))
        let h = max(1, min(boxH, Int((Double(height) * scale).rounded())))
        let inner = resized(width: w, height: h)
        var out = inner.inMiddle(width: boxW, height: boxH)
        let ox = (boxW - w) / 2, oy = (boxH - h) / 2
        if padding == .edge {
            for y in 0..<boxH {
                let sy = min(h - 1, max(0, y - oy))
                for x in 0..<boxW where x < ox || x >= ox + w || y < oy || y >= oy + h {
                    let sx = min(w - 1, max(0, x - ox))
                    let s = (sy * w + sx) * 3, d = (y * boxW + x) * 3
                    out[d] = inner.pixels[s]; out[d + 1] = inner.pixels[s + 1]; out[d + 2] = inner.pixels[s + 2]
                }
            }
        }
        return RGBImage(unchecked: boxW, boxH, out)
    }

    /// Luma (ITU-R BT.601), one byte a pixel.
    public func grayscale() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pixelCount)
        for i in 0..<pixelCount {
            let r = Int(pixels[3 * i]), g = Int(pixels[3 * i + 1]), b = Int(pixels[3 * i + 2])
            out[i] = UInt8((299 * r + 587 * g + 114 * b + 500) / 1000)
        }
        return out
    }

    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
