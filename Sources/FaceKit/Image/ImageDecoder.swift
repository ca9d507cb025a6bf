import Foundation
import WardenCore

/// Caps applied before any pixel buffer is allocated, so a hostile header cannot make the
/// process allocate gigabytes.
public struct ImageLimits: Sendable, Equatable {
    /// Largest accepted width x height. The default (40 MP) is above any door camera or
    /// phone photo, and keeps one decoded image under 120 MB.
    public var maxPixels: Int
    /// Largest accepted encoded size.
    public var maxBytes: Int
    /// When true, a JPEG that decodes with warnings (truncated data, corrupt segments) is
    /// rejected rather than accepted with grey or garbage rows.
    public var strict: Bool

    public init(maxPixels: Int = 40_000_000, maxBytes: Int = 64 << 20, strict: Bool = true) {
        self.maxPixels = maxPixels
        self.maxBytes = maxBytes
        self.strict = strict
    }

    public static let `default` = ImageLimits()
}

/// The encodings Warden reads, recognised by their leading bytes, never by file name.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png, webp, pnm

    public static func sniff(_ data: some Collection<UInt8>) -> ImageFormat? {
        let b = Array(data.prefix(12))
        if b.count >= 3, b[0] == 0xFF, b[1] == 0xD8, b[2] == 0xFF { return .jpeg }
        if b.count >= 8, b[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if b.count >= 12, b[0..<4].elementsEqual(Array("RIFF".utf8)), b[8..<12].elementsEqual(Array("WEBP".utf8)) { return .webp }
        if b.count >= 2, b[0] == UInt8(ascii: "P"), Array("2356".utf8).contains(b[1]) { return .pnm }
        return nil
    }
}

extension RGBImage {
    /// Decodes JPEG, PNG, WebP or PGM/PPM, whichever the bytes are.
    public init(decoding data: [UInt8], limits: ImageLimits = .default) throws(ImageError) {
        guard !data.isEmpty else { throw .emptyInput }
        guard data.count <= limits.maxBytes else { throw .tooManyBytes(size: data.count, limit: limits.maxBytes) }
        guard let format = ImageFormat.sniff(data) else {
            throw .unknownFormat(leadingBytes: data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        switch format {
        case .jpeg: self = try JPEGCodec.decode(data, limits: limits)
        case .png: self = try PNGCodec.decode(data, limits: limits)
        case .webp: self = try WebPCodec.decode(data, limits: limits)
        case .pnm: self = try PNMCodec.decode(data, limits: limits)
        }
    }

    /// Reads and decodes a file: a regular file only (never a FIFO or a device), refused
    /// over `limits.maxBytes` before it is read, and read with that bound.
    public init(contentsOf path: String, limits: ImageLimits = .default) throws(ImageError) {
        try self.init(decoding: try Self.readFile(path, limits: limits), limits: limits)
    }

    /// A file's bytes under the image limits, as ImageError.
    public static func readFile(_ path: String, limits: ImageLimits = .default) throws(ImageError) -> [UInt8] {
        do { return try BoundedFile.read(path, limit: limits.maxBytes) } catch {
            switch error {
            case .tooLarge(_, let size, let limit): throw .tooManyBytes(size: size, limit: limit)
            case .missing: throw .unreadable(path: path, reason: "no such file")
            case .notRegular(_, let kind): throw .unreadable(path: path, reason: "it is \(kind), not a regular file")
            case .unreadable(_, let why): throw .unreadable(path: path, reason: why)
            case .notUTF8: throw .unreadable(path: path, reason: "\(error)")
            }
        }
    }

    static func checkSize(width: Int, height: Int, limits: ImageLimits) throws(ImageError) {
        guard width > 0, height > 0 else { throw .emptyImage }
        guard width.multipliedReportingOverflow(by: height).partialValue <= limits.maxPixels,
              width <= limits.maxPixels, height <= limits.maxPixels else {
            throw .tooManyPixels(width: width, height: height, limit: limits.maxPixels)
        }
    }
}
