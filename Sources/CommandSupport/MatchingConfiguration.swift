import Foundation
import WardenCore
import Matching
import Yams

/// Matching thresholds from `<home>/matching.yaml`, when present; defaults otherwise. The
/// format, and what is refused, is `ThresholdsFile` (Matching).
///
/// The thresholds are distances in the space matching happens in, so a metric head is only
/// ever installed together with thresholds calibrated through it (`warden calibrate
/// --metric-head`). A named head that is missing, altered or malformed stops every command
/// that matches, rather than matching in the wrong space.
package enum MatchingConfiguration {
    package static let fileName = "matching.yaml"
    package typealias CalibrationRecord = ThresholdsFile.CalibrationRecord
    package typealias HeadReference = ThresholdsFile.HeadReference

    /// Writes the thresholds in force, with the calibration they came from and the head
    /// they were calibrated through, owner-only.
    package static func write(_ t: MatchThresholds, calibration: CalibrationRecord?, head: HeadReference?, fusion: FusedMatching? = nil, home: WardenHome) throws {
        try home.create()
        let path = home.file(fileName)
        let text = try ThresholdsFile(t, calibration: calibration, head: head, fusion: fusion).text()
        guard FileManager.default.createFile(atPath: path + ".tmp", contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot write \(path)")
        }
        guard rename(path + ".tmp", path) == 0 else { throw CLIError("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }

    /// The file's text, or nil when there is none (the defaults).
    package static func text(home: WardenHome) throws -> String? {
        let path = home.file(fileName)
        // Absent means the defaults; present but unreadable (not UTF-8, not a regular file)
        // is an error, never a silent fall back to the defaults.
        do { return try BoundedFile.readText(path) } catch {
            if case .missing = error { return nil }
            throw CLIError("\(path) cannot be used: \(error)")
        }
    }

    private static func file(home: WardenHome) throws -> ThresholdsFile? {
        guard let text = try text(home: home) else { return nil }
        do { return try ThresholdsFile.parse(text, source: home.file(fileName)) } catch { throw CLIError(error.description) }
    }

    /// The configured head reference, if any (not loaded).
    package static func headReference(home: WardenHome) throws -> HeadReference? { try file(home: home)?.metric_head }

    /// The configured metric head, loaded and checked; nil when none is configured.
    package static func loadHead(home: WardenHome) throws -> MetricHead? {
        guard let ref = try headReference(home: home) else { return nil }
        return try MetricHeadFile.load(ref.file, expectedSHA256: ref.sha256, configuredIn: home.file(fileName)).head
    }

    /// The fusion calibrated for this site, if `warden calibrate` fitted one.
    package static func fusion(home: WardenHome) throws -> FusedMatching? {
        guard let file = try file(home: home) else { return nil }
        do { return try file.fusedMatching(source: home.file(fileName)) } catch { throw CLIError(error.description) }
    }

    package static func load(home: WardenHome) throws -> MatchThresholds {
        guard let file = try file(home: home) else { return .default }
        do { return try file.thresholds(source: home.file(fileName)) } catch { throw CLIError(error.description) }
    }
}
