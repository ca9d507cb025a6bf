import CPNG

/// PNG through libpng's simplified API, which converts any colour type and bit depth
/// (palette, grey, 16-bit, alpha) to 8-bit RGB for us.
enum PNGCodec {
    static func decode(_ data: [UInt8], limits: ImageLimits) throws(ImageError) -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBufferPointer { buf in
            png_image_begin_read_from_memory(&image, buf.baseAddress, buf.count)
        }
        defer { png_image_free(&image) }
        guard begun != 0 else { throw .corrupt(format: "PNG", detail: message(&image)) }
        try RGBImage.checkSize(width: Int(image.width), height: Int(image.height), limits: limits)
        image.format = UInt32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 3)
        // Transparent pixels are composited onto white, as a viewer would show them.
        var white = png_color(red: 255, green: 255, blue: 255)
        let finished = pixels.withUnsafeMutableBufferPointer { dst in
            png_image_finish_read(&image, &white, dst.baseAddress, 0, nil)
        }
        guard finished != 0 else { throw .corrupt(format: "PNG", detail: message(&image)) }
        return RGBImage(unchecked: Int(image.width), Int(image.height), pixels)
    }

    /// 8-bit RGB to PNG bytes (for plots and reports).
    static func encode(_ rgb: RGBImage) throws(ImageError) -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(rgb.width); image.height = UInt32(rgb.height)
        image.format = UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&image) }
        // First call sizes the output, second writes it.
        var size: png_alloc_size_t = 0
        let sized = rgb.pixels.withUnsafeBufferPointer { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard sized != 0, size > 0 else { throw .corrupt(format: "PNG", detail: "cannot encode: \(message(&image))") }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = out.withUnsafeMutableBufferPointer { dst in
            rgb.pixels.withUnsafeBufferPointer { png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard written != 0 else { throw .corrupt(format: "PNG", detail: "cannot encode: \(message(&image))") }
        return Array(out.prefix(Int(size)))
    }

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

extension RGBImage {
    /// PNG bytes, lossless.
    public func pngData() throws(ImageError) -> [UInt8] { try PNGCodec.encode(self) }
}
