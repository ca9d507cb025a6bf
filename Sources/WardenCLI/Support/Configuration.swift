import Foundation
import WardenCore
import Matching
import Yams

/// Matching thresholds from `<home>/matching.yaml`, when present; defaults otherwise.
///
/// ```yaml
/// verify: 0.41              # 1:1 distance threshold
/// identify_ceiling: 0.41    # 1:N threshold never exceeds this
/// target_fpir: 0.001        # 1:N false-positive identification rate to hold
/// ambiguity_margin: 0.04    # 1:N: next person must be this much further
/// impostors: {mean: 0.5915, standard_deviation: 0.0614, source: "..."}
/// calibration: {dataset: ..., at: ..., target_fmr: ..., ...}   # written by `warden calibrate`
/// metric_head: {file: /var/lib/warden/heads/triplet.json, sha256: ...}  # optional learned metric
/// ```
///
/// The thresholds are distances in the space matching happens in, so a metric head is only
/// ever installed together with thresholds calibrated through it (`warden calibrate
/// --metric-head`). A named head that is missing, altered or malformed stops every command
/// that matches, rather than matching in the wrong space.
enum MatchingConfiguration {
    static let fileName = "matching.yaml"

    private struct File: Codable {
        var verify: Double?
        var identify_ceiling: Double?
        var target_fpir: Double?
        var ambiguity_margin: Double?
        var impostors: Impostors?
        var calibration: CalibrationRecord?
        var metric_head: HeadReference?
        struct Impostors: Codable { var mean: Double; var standard_deviation: Double; var source: String? }
    }

    /// Where calibrated thresholds came from, kept beside them.
    struct CalibrationRecord: Codable {
        var dataset: String; var at: String; var model: String; var images: Int
        var target_fmr: Double; var fmr: Double; var fnmr: Double; var genuine_pairs: Int; var impostor_pairs: Int
    }

    /// A learned metric head file, pinned by its SHA-256.
    struct HeadReference: Codable, Equatable { var file: String; var sha256: String }

    /// Writes the thresholds in force, with the calibration they came from and the head
    /// they were calibrated through, owner-only.
    static func write(_ t: MatchThresholds, calibration: CalibrationRecord?, head: HeadReference?, home: WardenHome) throws {
        let file = File(verify: t.verify, identify_ceiling: t.identifyCeiling, target_fpir: t.targetFPIR, ambiguity_margin: t.ambiguityMargin,
                        impostors: File.Impostors(mean: t.impostors.mean, standard_deviation: t.impostors.standardDeviation, source: t.impostors.source),
                        calibration: calibration, metric_head: head)
        try home.create()
        let path = home.file(fileName)
        let text = "# Matching thresholds. Written by `warden calibrate`; see docs/accuracy.md.\n" + (try YAMLEncoder().encode(file))
        guard FileManager.default.createFile(atPath: path + ".tmp", contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot write \(path)")
        }
        guard rename(path + ".tmp", path) == 0 else { throw CLIError("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }

    private static func file(home: WardenHome) throws -> File? {
        let path = home.file(fileName)
        // Absent means the defaults; present but unreadable (not UTF-8, not a regular file)
        // is an error, never a silent fall back to the defaults.
        let text: String
        do { text = try BoundedFile.readText(path) } catch {
            if case .missing = error { return nil }
            throw CLIError("\(path) cannot be used: \(error)")
        }
        do { return try YAMLDecoder().decode(File.self, from: text) } catch {
            throw CLIError("\(path): not valid matching configuration: \(error)")
        }
    }

    /// The configured head reference, if any (not loaded).
    static func headReference(home: WardenHome) throws -> HeadReference? { try file(home: home)?.metric_head }

    /// The configured metric head, loaded and checked; nil when none is configured.
    static func loadHead(home: WardenHome) throws -> MetricHead? {
        guard let ref = try headReference(home: home) else { return nil }
        return try MetricHeadFile.load(ref.file, expectedSHA256: ref.sha256, configuredIn: home.file(fileName)).head
    }

    static func load(home: WardenHome) throws -> MatchThresholds {
        let path = home.file(fileName)
        guard let file = try file(home: home) else { return .default }
        var t = MatchThresholds.default
        if let v = file.verify { t.verify = v }
        if let v = file.identify_ceiling { t.identifyCeiling = v }
        if let v = file.target_fpir { t.targetFPIR = v }
        if let v = file.ambiguity_margin { t.ambiguityMargin = v }
        if let i = file.impostors { t.impostors = ImpostorModel(mean: i.mean, standardDeviation: i.standard_deviation, source: i.source ?? path) }
        guard (0...2).contains(t.verify), (0...2).contains(t.identifyCeiling), t.targetFPIR > 0, t.targetFPIR < 1,
              t.ambiguityMargin >= 0, t.impostors.standardDeviation > 0 else {
            throw CLIError("\(path): thresholds out of range (distances 0-2, target_fpir in (0,1), margin >= 0, sd > 0)")
        }
        // A threshold at the impostors' mean distance lets about half of all strangers
        // match (verify: 2.0 lets every face match): refused, not a setting anyone wants.
        for (name, v) in [("verify", t.verify), ("identify_ceiling", t.identifyCeiling)] where v >= t.impostors.mean {
            throw CLIError("\(path): \(name) \(v) is at or above the impostors' mean distance \(t.impostors.mean) (\(t.impostors.source)): "
                           + "about half of all strangers or more would match. Set it with `warden calibrate DATASET --target-fmr 1e-3`")
        }
        return t
    }
}
