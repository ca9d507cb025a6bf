import Crypto
import FaceKit
import Foundation
import WardenCore
import Matching

/// A metric head on disk: JSON with its weights and metadata, written owner-only (it is
/// learned from biometric data), pinned in the matching configuration by SHA-256.
package enum MetricHeadFile {
    package static func write(_ head: MetricHead, to path: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(head)
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) }
        guard FileManager.default.createFile(atPath: path + ".tmp", contents: data, attributes: [.posixPermissions: 0o600]),
              rename(path + ".tmp", path) == 0 else { throw CLIError("cannot write the metric head to \(path)") }
        return sha256(data)
    }

    /// Reads and checks a head, returning it with the SHA-256 of the file as read (one
    /// read, so the hash is of the bytes decoded); with `expectedSHA256`, refuses a file
    /// that has changed since it was configured.
    package static func load(_ path: String, expectedSHA256: String? = nil, configuredIn: String? = nil) throws -> (head: MetricHead, sha256: String) {
        let origin = configuredIn.map { " (named in \($0))" } ?? ""
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("metric head \(path)\(origin) cannot be read" + (configuredIn == nil ? "" : "; restore it, or stop using it with `warden calibrate DATASET --metric-head none`"))
        }
        let digest = sha256(data)
        if let expected = expectedSHA256, digest != expected {
            throw CLIError("metric head \(path)\(origin) has changed since it was calibrated (SHA-256 differs); run `warden calibrate DATASET --metric-head \(path)` again")
        }
        let head: MetricHead
        do { head = try JSONDecoder().decode(MetricHead.self, from: data) } catch { throw CLIError("metric head \(path)\(origin) is not a metric head file: \(error)") }
        do { try head.validate(inputDimension: Embedding.dimension) } catch { throw CLIError("\(path)\(origin): \(error.description)") }
        return (head, digest)
    }

    package static func sha256(_ data: Data) -> String { Hex.encode(SHA256.hash(data: data)) }
}
