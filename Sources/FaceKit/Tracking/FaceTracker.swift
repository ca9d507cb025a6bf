import Foundation

/// Follows faces across frames by box overlap, so that evidence from several frames of
/// the same face can be combined and one lucky frame is never enough.
public struct FaceTracker: Sendable {
    public struct Track: Sendable {
        public let id: Int
        public var box: FaceBox
        public var firstSeen: Date
        public var lastSeen: Date
        public var frames: Int
        /// The best quality seen so far (by inter-eye distance x detector score).
        public var bestQuality: Double
    }

    public var minimumOverlap: Double
    /// A track not seen for this long ends.
    public var maximumGap: TimeInterval
    public private(set) var tracks: [Track] = []
    private var nextID = 1

    public init(minimumOverlap: Double = 0.3, maximumGap: TimeInterval = 1.5) {
        self.minimumOverlap = minimumOverlap; self.maximumGap = maximumGap
    }

    /// Assigns each face to a track (new or continuing); returns the track ids in the
    /// faces' order and whether each face beats its track's best quality so far.
    public mutating func update(_ faces: [Face], at now: Date) -> [(track: Int, improved: Bool)] {
        tracks.removeAll { now.timeIntervalSince($0.lastSeen) > maximumGap }
        var taken = Set<Int>()
        var out: [(Int, Bool)] = []
        for f in faces {
            let q = f.landmarks.interEyeDistance * max(0.1, f.score)
            let best = tracks.indices.filter { !taken.contains(tracks[$0].id) }
                .map { ($0, tracks[$0].box.iou(f.box)) }.max { $0.1 < $1.1 }
            if let (i, overlap) = best, overlap >= minimumOverlap {
                taken.insert(tracks[i].id)
                tracks[i].box = f.box
                tracks[i].lastSeen = now
                tracks[i].frames += 1
                let improved = q > tracks[i].bestQuality
                if improved { tracks[i].bestQuality = q }
                out.append((tracks[i].id, improved))
            } else {
                let t = Track(id: nextID, box: f.box, firstSeen: now, lastSeen: now, frames: 1, bestQuality: q)
                nextID += 1
                tracks.append(t)
                taken.insert(t.id)
                out.append((t.id, true))
            }
        }
        return out
    }
}
