/// The EXIF orientation of a JPEG (TIFF tag 0x0112), which phones and many cameras write
/// instead of rotating the pixels: a portrait photo is often stored landscape with
/// orientation 6. Without it a face lies on its side and the detector finds nothing.
///
/// The parser reads only the first APP1 "Exif" segment before the image data, with every
/// offset bounds-checked: a malformed or hostile segment means "no orientation", never a
/// crash or a refusal of an image that decodes.
enum ExifOrientation {
    /// 1...8, or nil when the file carries none (or an unreadable one).
    static func read(_ d: [UInt8]) -> Int? {
        guard d.count > 4, d[0] == 0xFF, d[1] == 0xD8 else { return nil }
        var i = 2
        while i + 4 <= d.count {
            guard d[i] == 0xFF else { return nil }
            let marker = d[i + 1]
            if marker == 0xFF { i += 1; continue }                 // fill byte
            if marker == 0xDA || marker == 0xD9 { return nil }     // image data: no EXIF before it
            let length = Int(d[i + 2]) << 8 | Int(d[i + 3])
            guard length >= 2, i + 2 + length <= d.count else { return nil }
            if marker == 0xE1, length >= 8, Array(d[(i + 4)..<(i + 10)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                return tiffOrientation(Array(d[(i + 10)..<(i + 2 + length)]))
            }
            i += 2 + length
        }
        return nil
    }

    private static func tiffOrientation(_ t: [UInt8]) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd), count < 1000 else { return nil }
        for k in 0..<count {
            let e = ifd + 2 + 12 * k
            guard let tag = u16(e) else { return nil }
            // SHORT (type 3), one value, stored in the entry itself.
            if tag == 0x0112, u16(e + 2) == 3, let v = u16(e + 8) { return (1...8).contains(v) ? v : nil }
        }
        return nil
    }
}

extension RGBImage {
    /// The image as it should be shown, given its EXIF orientation (1: as stored).
    func applyingExifOrientation(_ o: Int) -> RGBImage {
        guard (2...8).contains(o) else { return self }
        let w = width, h = height
        let swaps = o >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        let sx: Int, sy: Int
                        switch o {
                        case 2: sx = w - 1 - x; sy = y
                        case 3: sx = w - 1 - x; sy = h - 1 - y
                        case 4: sx = x; sy = h - 1 - y
                        case 5: sx = y; sy = x
                        case 6: sx = y; sy = h - 1 - x
                        case 7: sx = w - 1 - y; sy = h - 1 - x
                        default: sx = w - 1 - y; sy = x     // 8
                        }
                        let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(unchecked: ow, oh, out)
    }
}
