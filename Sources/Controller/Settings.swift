import FaceKit
import Foundation
import PresentationAttack

/// How a door uses its camera.
public struct FaceSettings: Sendable, Equatable {
    /// Frames of one face that must agree before a face factor counts. One lucky frame is
    /// never enough.
    public var framesRequired: Int
    /// Frames of one face to try before giving up on it.
    public var maximumFrames: Int
    public var detection: DetectionOptions
    /// After a badge read, how long the holder has to show their face (badge+face).
    public var badgeWindow: TimeInterval
    /// Where liveness is required: how many fresh frames of a track must be scored, and the
    /// threshold on their mean bona fide score.
    public var liveness: LivenessRule
    /// Where the detector looks: around the tracked faces, the whole frame every few frames.
    public var scan: ScanPlan

    public init(framesRequired: Int = 3, maximumFrames: Int = 6, detection: DetectionOptions = DetectionOptions(upsample: 0, maximumFaces: 4),
                badgeWindow: TimeInterval = 8, liveness: LivenessRule = .standard, scan: ScanPlan = .door) {
        self.framesRequired = max(1, framesRequired); self.maximumFrames = max(framesRequired, maximumFrames)
        self.detection = detection; self.badgeWindow = badgeWindow; self.liveness = liveness; self.scan = scan
    }
}

/// Back-off after repeated failures at one door, so tries cannot be used to hunt for a
/// false accept.
public struct LockoutSettings: Sendable, Equatable {
    public var attempts: Int
    public var window: TimeInterval
    public var duration: TimeInterval
    public init(attempts: Int = 5, window: TimeInterval = 60, duration: TimeInterval = 300) {
        self.attempts = attempts; self.window = window; self.duration = duration
    }
}

/// One line of what happened, for people.
public struct TimelineEntry: Sendable, Equatable {
    public var at: Date
    public var door: String
    public var text: String
    /// How much it asks of whoever reads it: set where the line is worded, so a log level
    /// or a colour never depends on the words.
    public var severity: TimelineSeverity = .info
}

/// How much a timeline line asks of a guard.
public enum TimelineSeverity: String, Sendable, Codable, Comparable, CaseIterable {
    /// What happened, nothing to do: a grant, a door opening, a recovery.
    case info
    /// Worth a look: a denial, a rejected reader frame, a refused remote command.
    case notice
    /// Something works less well than configured: recognition lagging, a lockout, a
    /// second model not in use.
    case warning
    /// Someone must act: a forced or held door, a tamper, a lost camera or reader, a door
    /// out of service, the fire alarm, a store that cannot be read or written.
    case alarm

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}
