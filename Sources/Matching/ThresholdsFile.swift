import Foundation
import WardenCore
import Yams

/// The text of `matching.yaml`: the thresholds in force, where they were calibrated, and
/// the learned metric head they were calibrated through. Parsed here, in one place, for a
/// board reading its home and for the fleet server checking a published file, so both
/// accept and refuse the same files with the same words.
///
/// ```yaml
/// verify: 0.41              # 1:1 distance threshold
/// identify_ceiling: 0.41    # 1:N threshold never exceeds this
/// target_fpir: 0.001        # 1:N false-positive identification rate to hold
/// ambiguity_margin: 0.04    # 1:N: next person must be this much further
/// impostors: {mean: 0.5915, standard_deviation: 0.0614, source: "..."}
/// calibration: {dataset: ..., at: ..., target_fmr: ..., ...}   # written by `warden calibrate`
/// metric_head: {file: /var/lib/warden/heads/triplet.json, sha256: ...}  # optional learned metric
/// fusion: {models: {<model id>: {mean: ..., standard_deviation: ...}, ...}, fused_impostors: {...}}  # second model
/// ```
public struct ThresholdsFile: Codable, Sendable {
    public static let fileName = "matching.yaml"

    public var verify: Double?
    public var identify_ceiling: Double?
    public var target_fpir: Double?
    public var ambiguity_margin: Double?
    public var impostors: Impostors?
    public var calibration: CalibrationRecord?
    public var metric_head: HeadReference?
    /// How the second model's distances fuse with dlib's (written by `warden calibrate` when
    /// the second model is installed); absent: the measured default.
    public var fusion: FusionSection?

    public struct FusionSection: Codable, Sendable {
        /// Each model's impostor distances, by model id.
        public var models: [String: Impostors]
        /// The fused score's impostor distribution.
        public var fused_impostors: Impostors
        public init(_ m: FusedMatching) {
            models = m.fusion.models.mapValues { Impostors(mean: $0.mean, standard_deviation: $0.standardDeviation, source: $0.source) }
            fused_impostors = Impostors(mean: m.fusedImpostors.mean, standard_deviation: m.fusedImpostors.standardDeviation, source: m.fusedImpostors.source)
        }
    }

    /// The fusion it sets, checked: every spread positive and finite, two models at least.
    public func fusedMatching(source: String) throws(ThresholdsFileError) -> FusedMatching? {
        guard let f = fusion else { return nil }
        func model(_ i: Impostors) throws(ThresholdsFileError) -> ImpostorModel {
            guard i.mean.isFinite, i.standard_deviation.isFinite, i.standard_deviation > 0 else {
                throw ThresholdsFileError("\(source): fusion: every mean must be a number and every standard_deviation above 0")
            }
            return ImpostorModel(mean: i.mean, standardDeviation: i.standard_deviation, source: i.source ?? source)
        }
        guard f.models.count >= 2 else { throw ThresholdsFileError("\(source): fusion: needs the impostor distributions of two models") }
        var models: [String: ImpostorModel] = [:]
        for (id, i) in f.models { models[id] = try model(i) }
        return FusedMatching(fusion: ScoreFusion(models: models), fusedImpostors: try model(f.fused_impostors))
    }

    public struct Impostors: Codable, Sendable { public var mean: Double; public var standard_deviation: Double; public var source: String? }

    /// Where calibrated thresholds came from, kept beside them.
    public struct CalibrationRecord: Codable, Sendable {
        public var dataset: String; public var at: String; public var model: String; public var images: Int
        public var target_fmr: Double; public var fmr: Double; public var fnmr: Double; public var genuine_pairs: Int; public var impostor_pairs: Int
        public init(dataset: String, at: String, model: String, images: Int, target_fmr: Double, fmr: Double, fnmr: Double, genuine_pairs: Int, impostor_pairs: Int) {
            self.dataset = dataset; self.at = at; self.model = model; self.images = images; self.target_fmr = target_fmr
            self.fmr = fmr; self.fnmr = fnmr; self.genuine_pairs = genuine_pairs; self.impostor_pairs = impostor_pairs
        }
    }

    /// A learned metric head file, pinned by its SHA-256.
    public struct HeadReference: Codable, Equatable, Sendable {
        public var file: String; public var sha256: String
        public init(file: String, sha256: String) { self.file = file; self.sha256 = sha256 }
    }

    public init(_ t: MatchThresholds, calibration: CalibrationRecord?, head: HeadReference?, fusion: FusedMatching? = nil) {
        self.fusion = fusion.map(FusionSection.init)
        verify = t.verify; identify_ceiling = t.identifyCeiling; target_fpir = t.targetFPIR; ambiguity_margin = t.ambiguityMargin
        impostors = Impostors(mean: t.impostors.mean, standard_deviation: t.impostors.standardDeviation, source: t.impostors.source)
        self.calibration = calibration; metric_head = head
    }

    /// The file as written, with a header saying where it came from.
    public func text() throws -> String {
        "# Matching thresholds. Written by `warden calibrate`; see docs/accuracy.md.\n" + (try YAMLEncoder().encode(self))
    }

    /// Parses `text`; `source` names it in errors (a path, or "the published matching.yaml").
    public static func parse(_ text: String, source: String) throws(ThresholdsFileError) -> ThresholdsFile {
        do { return try YAMLDecoder().decode(ThresholdsFile.self, from: text) } catch {
            throw ThresholdsFileError("\(source): not valid matching configuration: \(error)")
        }
    }

    /// The thresholds it sets over the defaults, checked: out of range, or loose enough to let
    /// half of all strangers match, is refused.
    public func thresholds(source: String) throws(ThresholdsFileError) -> MatchThresholds {
        var t = MatchThresholds.default
        if let v = verify { t.verify = v }
        if let v = identify_ceiling { t.identifyCeiling = v }
        if let v = target_fpir { t.targetFPIR = v }
        if let v = ambiguity_margin { t.ambiguityMargin = v }
        if let i = impostors { t.impostors = ImpostorModel(mean: i.mean, standardDeviation: i.standard_deviation, source: i.source ?? source) }
        guard (0...2).contains(t.verify), (0...2).contains(t.identifyCeiling), t.targetFPIR > 0, t.targetFPIR < 1,
              t.ambiguityMargin >= 0, t.impostors.standardDeviation > 0 else {
            throw ThresholdsFileError("\(source): thresholds out of range (distances 0-2, target_fpir in (0,1), margin >= 0, sd > 0)")
        }
        // A threshold at the impostors' mean distance lets about half of all strangers
        // match (verify: 2.0 lets every face match): refused, not a setting anyone wants.
        for (name, v) in [("verify", t.verify), ("identify_ceiling", t.identifyCeiling)] where v >= t.impostors.mean {
            throw ThresholdsFileError("\(source): \(name) \(v) is at or above the impostors' mean distance \(t.impostors.mean) (\(t.impostors.source)): "
                                      + "about half of all strangers or more would match. Set it with `warden calibrate DATASET --target-fmr 1e-3`")
        }
        return t
    }
}

extension ThresholdsFile {
    /// The thresholds as the fleet publishes them: one file, `matching.yaml`, checked as a
    /// board will read it. A learned metric head names a file on the publishing host, which
    /// the fleet does not carry, so a board would stop matching: refused.
    public static func checkPublishable(_ files: [String: String]) throws(ThresholdsFileError) {
        guard files.count == 1, let text = files[fileName] else {
            throw ThresholdsFileError("the thresholds are one file, \(fileName) (got \(files.keys.sorted().joined(separator: ", ")))")
        }
        let source = "the published \(fileName)"
        // A board reads its matching.yaml up to this size and refuses to start past it.
        guard text.utf8.count <= ConfigurationFileRules.maximumThresholdsBytes else {
            throw ThresholdsFileError("\(source) is \(text.utf8.count) bytes, over the \(ConfigurationFileRules.maximumThresholdsBytes) a board reads")
        }
        let file = try parse(text, source: source)
        _ = try file.thresholds(source: source)
        if let head = file.metric_head {
            throw ThresholdsFileError("\(source) names a learned metric head (\(head.file)), which the fleet does not distribute; "
                                      + "a board without that file would stop matching. Calibrate without --metric-head to publish.")
        }
    }
}

public struct ThresholdsFileError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
