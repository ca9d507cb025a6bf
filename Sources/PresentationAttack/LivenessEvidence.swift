import Foundation

/// What a track's liveness evidence says so far.
public enum LivenessVerdict: String, Sendable, Codable, Equatable {
    /// Enough fresh frames, and they say bona fide.
    case live
    /// Enough fresh frames, and they say a presentation attack (a print, a screen).
    case attack
    /// Too few fresh frames yet.
    case unsure
}

/// How a door turns PAD scores into a verdict: `framesRequired` fresh frames (each scored
/// once, when it was embedded), whose mean bona fide score is compared with `threshold`. One still is weak evidence (a bona fide face turned or blurred can score
/// low once); a print or a screen scores low frame after frame.
public struct LivenessRule: Sendable, Equatable, Codable {
    public var framesRequired: Int
    public var threshold: Double

    public init(framesRequired: Int = 3, threshold: Double = LivenessRule.calibratedThreshold) {
        self.framesRequired = max(1, framesRequired); self.threshold = threshold
    }

    /// Calibrated on bona fide data (docs/liveness.md, `warden pad eval --target-bpcer`):
    /// the pair's bona fide score below which a track counts as an attack. 0.05 refuses
    /// 4.8% of the 1,168 single photos of ../shared/faces (the target is at most 5%) and none
    /// of the clip's tracks; the real print scores 0.014 and the real screen 0.038.
    public static let calibratedThreshold = 0.05
    public static let standard = LivenessRule()
}

/// The PAD scores of one track's fresh frames.
public struct LivenessEvidence: Sendable, Equatable, Codable {
    public private(set) var scores: [Double] = []
    public init() {}

    public mutating func add(_ bonaFide: Double) { scores.append(bonaFide) }

    public var frames: Int { scores.count }
    public var mean: Double? { scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count) }

    public func verdict(_ rule: LivenessRule) -> LivenessVerdict {
        guard scores.count >= rule.framesRequired, let m = mean else { return .unsure }
        return m >= rule.threshold ? .live : .attack
    }
}
