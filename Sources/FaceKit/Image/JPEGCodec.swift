import CTurboJPEG

/// JPEG through libjpeg-turbo's TurboJPEG API.
enum JPEGCodec {
    static func decode(_ data: [UInt8], limits: ImageLimits) throws(ImageError) -> RGBImage {
        guard let handle = tjInitDecompress() else { throw .corrupt(format: "JPEG", detail: "cannot start the decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let headerStatus = data.withUnsafeBufferPointer { buf in
            tjDecompressHeader3(handle, buf.baseAddress, UInt(buf.count), &width, &height, &subsampling, &colorspace)
        }
        guard headerStatus == 0 else { throw .corrupt(format: "JPEG", detail: message(handle)) }
        guard width > 0, height > 0 else { throw .corrupt(format: "JPEG", detail: "the header gives no image size") }
        try RGBImage.checkSize(width: Int(width), height: Int(height), limits: limits)

        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let flags = limits.strict ? TJFLAG_STOPONWARNING : 0
        let status = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, width, width * 3, height,
                              Int32(TJPF_RGB.rawValue), Int32(flags))
            }
        }
        if status != 0 {
            // Without strict mode, warnings (e.g. extraneous bytes) still leave a usable image.
            let fatal = tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue)
            if fatal || limits.strict { throw .corrupt(format: "JPEG", detail: message(handle)) }
        }
        let stored = RGBImage(unchecked: Int(width), Int(height), pixels)
        return ExifOrientation.read(data).map(stored.applyingExifOrientation) ?? stored
    }

    /// Encodes to baseline JPEG at the given quality (used for benchmarks and test clips).
    static func encode(_ image: RGBImage, quality: Int32) throws(ImageError) -> [UInt8] {
        guard let handle = tjInitCompress() else { throw .corrupt(format: "JPEG", detail: "cannot start the encoder") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, Int32(image.width), Int32(image.width * 3), Int32(image.height),
                        Int32(TJPF_RGB.rawValue), &out, &size, Int32(TJSAMP_420.rawValue), quality, 0)
        }
        defer { if let out { tjFree(out) } }
        guard status == 0, let out else { throw .corrupt(format: "JPEG", detail: message(handle)) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    private static func message(_ handle: tjhandle) -> String {
        guard let c = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: c)
    }
}

extension RGBImage {
    /// JPEG bytes of this image.
    public func jpegData(quality: Int = 90) throws(ImageError) -> [UInt8] {
        try JPEGCodec.encode(self, quality: Int32(max(1, min(100, quality))))
    }
}
