import FaceKit
import Foundation

/// Which few of the faces seen during a capture become templates: a set that covers the
/// frontal view and slight turns left and right and tilts up and down, whose members
/// differ from one another, rather than the sharpest frame five times. Pure; the camera
/// enrollment and `warden eval --templates` use the same choice.
public enum TemplateSelection {
    public enum PoseBin: String, Sendable, Codable, CaseIterable, Comparable {
        case frontal, left, right, up, down
        public static func < (a: PoseBin, b: PoseBin) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
        /// What to say to the person to get this view (they face the camera).
        public var hint: String {
            switch self {
            case .frontal: return "look straight at the camera"
            case .left: return "turn a little to your left"
            case .right: return "turn a little to your right"
            case .up: return "tilt your head up a little"
            case .down: return "tilt your head down a little"
            }
        }
    }

    /// A yaw past this (about 7 degrees) is a turn; a nose drop this far from the person's
    /// own frontal value is a tilt. Both from the development set's portraits, whose yaw
    /// spans ±0.13 and nose drop 0.56 to 0.81 within one person.
    public static let turn = 0.06
    public static let tilt = 0.05
    /// Two templates closer than this (unit-vector distance) add little: near-duplicates.
    public static let minimumDifference = 0.12

    public struct Candidate: Sendable {
        public var vector: [Float]
        public var pose: FacePose
        /// Larger is better (inter-eye distance x sharpness x detector score, or any
        /// monotone stand-in): the best of a pose is taken first.
        public var quality: Double
        /// Where it came from (a frame number, an image index), for the caller.
        public var tag: Int
        public init(vector: [Float], pose: FacePose, quality: Double, tag: Int) {
            self.vector = vector; self.pose = pose; self.quality = quality; self.tag = tag
        }
    }

    public struct Chosen: Sendable {
        public var candidate: Candidate
        public var bin: PoseBin
    }

    /// The person's own frontal nose drop: the median over what was seen.
    public static func frontalDrop(_ c: [Candidate]) -> Double {
        let d = c.map(\.pose.noseDrop).sorted()
        return d.isEmpty ? 0 : d[d.count / 2]
    }

    public static func bin(_ pose: FacePose, frontalDrop: Double) -> PoseBin {
        let tiltBy = pose.noseDrop - frontalDrop
        // The larger departure names the pose.
        if abs(pose.yaw) >= turn && abs(pose.yaw) / turn >= abs(tiltBy) / tilt { return pose.yaw > 0 ? .left : .right }
        if abs(tiltBy) >= tilt { return tiltBy < 0 ? .up : .down }
        return .frontal
    }

    /// What a captured template records as its source: a capture has no file, so the
    /// camera, the frame and the pose it was taken at.
    public static func captureSourceName(camera: String, frame: Int, pose: String, yaw: Double, noseDrop: Double) -> String {
        String(format: "camera %@, frame %d, %@ (yaw %+.2f, nose drop %.2f)", camera, frame, pose, yaw, noseDrop)
    }

    /// At most `count` candidates: the best frontal one first, then the best of each other
    /// pose that differs from those chosen, then the farthest from those chosen, each at
    /// least `minimumDifference` from every one chosen.
    public static func choose(_ candidates: [Candidate], count: Int) -> [Chosen] {
        guard count > 0, !candidates.isEmpty else { return [] }
        let frontal = frontalDrop(candidates)
        let binned = candidates.map { ($0, bin($0.pose, frontalDrop: frontal)) }
        var chosen: [Chosen] = []
        func gap(_ c: Candidate) -> Double {
            chosen.map { DistanceMetric.euclidean.distance(c.vector, $0.candidate.vector) }.min() ?? .infinity
        }
        for b in PoseBin.allCases where chosen.count < count {
            let pool = binned.filter { $0.1 == b && gap($0.0) >= minimumDifference }
            if let best = pool.max(by: { $0.0.quality < $1.0.quality }) { chosen.append(Chosen(candidate: best.0, bin: b)) }
        }
        // No frontal face seen: the best face overall leads.
        if chosen.isEmpty, let best = binned.max(by: { $0.0.quality < $1.0.quality }) { chosen.append(Chosen(candidate: best.0, bin: best.1)) }
        while chosen.count < count {
            let taken = Set(chosen.map(\.candidate.tag))
            guard let next = binned.filter({ !taken.contains($0.0.tag) }).map({ ($0, gap($0.0)) }).filter({ $0.1 >= minimumDifference })
                .max(by: { $0.1 < $1.1 }) else { break }
            chosen.append(Chosen(candidate: next.0.0, bin: next.0.1))
        }
        return chosen
    }

    /// The poses seen so far, and the first one still missing (nil: all seen).
    public static func coverage(_ candidates: [Candidate]) -> (covered: Set<PoseBin>, missing: PoseBin?) {
        let frontal = frontalDrop(candidates)
        let covered = Set(candidates.map { bin($0.pose, frontalDrop: frontal) })
        return (covered, PoseBin.allCases.first { !covered.contains($0) })
    }
}
