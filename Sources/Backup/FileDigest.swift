import Crypto
import Foundation
import WardenCore

/// A file's SHA-256, read a MiB at a time: a database or a model file is never held whole
/// in memory to be hashed.
public enum FileDigest {
    /// Lower-case hex; nil when the file cannot be opened.
    public static func sha256(ofFile path: String) -> (hex: String, size: Int)? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        var hasher = SHA256()
        var size = 0
        while let chunk = try? h.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            size += chunk.count
        }
        return (Hex.encode(hasher.finalize()), size)
    }
}
