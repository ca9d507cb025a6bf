import CWebP

/// WebP through libwebp. Web photo sets carry WebP files under .jpg names; we read them.
enum WebPCodec {
    static func decode(_ data: [UInt8], limits: ImageLimits) throws(ImageError) -> RGBImage {
        var width: Int32 = 0, height: Int32 = 0
        let ok = data.withUnsafeBufferPointer { WebPGetInfo($0.baseAddress, $0.count, &width, &height) }
        guard ok != 0 else { throw .corrupt(format: "WebP", detail: "unreadable header") }
        try RGBImage.checkSize(width: Int(width), height: Int(height), limits: limits)
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let count = pixels.count
        let result = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                WebPDecodeRGBInto(src.baseAddress, src.count, dst.baseAddress, count, width * 3)
            }
        }
        guard result != nil else { throw .corrupt(format: "WebP", detail: "the bitstream did not decode") }
        return RGBImage(unchecked: Int(width), Int(height), pixels)
    }
}
