/// Why an image could not be used. Each message says what was wrong in words a person
/// reading a CLI error can act on.
public enum ImageError: Error, Equatable, CustomStringConvertible, Sendable {
    case emptyInput
    case emptyImage
    case unknownFormat(leadingBytes: String)
    case tooManyPixels(width: Int, height: Int, limit: Int)
    case tooManyBytes(size: Int, limit: Int)
    case corrupt(format: String, detail: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .emptyInput: return "the input is empty (0 bytes)"
        case .emptyImage: return "the image has zero width or height"
        case .unknownFormat(let lead):
            return "not a supported image (JPEG, PNG, WebP, PGM/PPM); it starts with bytes \(lead)"
        case .tooManyPixels(let w, let h, let limit):
            return "image is \(w)x\(h) = \(w * h) pixels, over the limit of \(limit); scale it down first"
        case .tooManyBytes(let size, let limit):
            return "image file is \(size) bytes, over the limit of \(limit)"
        case .corrupt(let format, let detail): return "corrupt or truncated \(format): \(detail)"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        }
    }
}
