/// Netpbm greymaps and pixmaps: P2/P5 (PGM) and P3/P6 (PPM), 8 or 16 bits a sample.
/// Small enough to parse here; grey images are expanded to RGB.
enum PNMCodec {
    static func decode(_ data: [UInt8], limits: ImageLimits) throws(ImageError) -> RGBImage {
        var reader = Reader(data: data)
        guard data.count >= 2 else { throw .corrupt(format: "PNM", detail: "no header") }
        let kind = data[1]
        reader.position = 2
        let width = try reader.headerNumber("width")
        let height = try reader.headerNumber("height")
        let maxValue = try reader.headerNumber("maximum value")
        guard (1...65535).contains(maxValue) else { throw .corrupt(format: "PNM", detail: "maximum value \(maxValue) is outside 1...65535") }
        try RGBImage.checkSize(width: width, height: height, limits: limits)

        let channels = (kind == UInt8(ascii: "3") || kind == UInt8(ascii: "6")) ? 3 : 1
        let ascii = kind == UInt8(ascii: "2") || kind == UInt8(ascii: "3")
        let samples = width * height * channels
        var values = [UInt8](repeating: 0, count: samples)
        let scale = { (v: Int) -> UInt8 in UInt8((v * 255 + maxValue / 2) / maxValue) }
        if ascii {
            for i in 0..<samples {
                let v = try reader.headerNumber("sample")
                guard v <= maxValue else { throw .corrupt(format: "PNM", detail: "sample \(v) exceeds the maximum \(maxValue)") }
                values[i] = scale(v)
            }
        } else {
            // Exactly one whitespace byte separates the header from the raster.
            reader.position += 1
            let bytesPerSample = maxValue > 255 ? 2 : 1
            guard data.count - reader.position >= samples * bytesPerSample else {
                throw .corrupt(format: "PNM", detail: "raster holds \(max(0, data.count - reader.position)) bytes, expected \(samples * bytesPerSample)")
            }
            var p = reader.position
            for i in 0..<samples {
                let v = bytesPerSample == 2 ? Int(data[p]) << 8 | Int(data[p + 1]) : Int(data[p])
                p += bytesPerSample
                guard v <= maxValue else { throw .corrupt(format: "PNM", detail: "sample \(v) exceeds the maximum \(maxValue)") }
                values[i] = scale(v)
            }
        }
        if channels == 3 { return RGBImage(unchecked: width, height, values) }
        var rgb = [UInt8](repeating: 0, count: samples * 3)
        for i in 0..<samples { rgb[3 * i] = values[i]; rgb[3 * i + 1] = values[i]; rgb[3 * i + 2] = values[i] }
        return RGBImage(unchecked: width, height, rgb)
    }

    private struct Reader {
        let data: [UInt8]
        var position = 0

        /// Skips whitespace and `#` comments, then reads a decimal number.
        mutating func headerNumber(_ what: String) throws(ImageError) -> Int {
            while position < data.count {
                let c = data[position]
                if c == UInt8(ascii: "#") {
                    while position < data.count, data[position] != 10, data[position] != 13 { position += 1 }
                } else if c == 32 || (9...13).contains(c) {
                    position += 1
                } else { break }
            }
            var value = 0, digits = 0
            while position < data.count, (48...57).contains(data[position]) {
                value = value * 10 + Int(data[position] - 48)
                digits += 1
                position += 1
                guard digits <= 9 else { throw .corrupt(format: "PNM", detail: "\(what) is too long a number") }
            }
            guard digits > 0 else { throw .corrupt(format: "PNM", detail: "expected the \(what), found \(position < data.count ? "byte \(data[position])" : "end of file")") }
            return value
        }
    }
}

extension RGBImage {
    /// Binary PPM (P6) bytes: the simplest lossless way to hand a frame to another tool.
    public func ppmData() -> [UInt8] {
        Array("P6\n\(width) \(height)\n255\n".utf8) + pixels
    }
}
