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
        /// Processed frames in a row that did not show this face.
        public var missed: Int = 0
    }

    public var minimumOverlap: Double
    /// A track ends when it has not been seen for this long...
    public var maximumGap: TimeInterval
    /// ...and was missing from at least this many processed frames. Time alone never ends
    /// a track: on a slow or loaded board a frame may take longer than any fixed window to
    /// detect and embed (12 s has been seen under emulation), and a face that stood still
    /// throughout must stay one track, or no track ever gathers enough frames to decide. A
    /// camera that really delivered nothing is a camera fault (no signal), and the door's
    /// pipeline starts its tracks afresh when the camera comes back (`reset`).
    public var minimumMisses: Int
    public private(set) var tracks: [Track] = []
    private var nextID = 1

    public init(minimumOverlap: Double = 0.3, maximumGap: TimeInterval = 1.5, minimumMisses: Int = 2) {
        self.minimumOverlap = minimumOverlap; self.maximumGap = maximumGap; self.minimumMisses = minimumMisses
    }

    /// Ends every track: whoever is in view next is someone new.
    public mutating func reset() { tracks = [] }

    /// How good a face is for recognition, from what detection already gives: larger
    /// (inter-eye distance) and more frontal (the head's turn, from the landmarks). The face
    /// pipeline embeds a track again only when this beats its last embedded frame.
    ///
    /// Not the detector's score: it depends on the scale and the pixel grid the face was
    /// found at, and the door pipeline scans a tracked face in a region at half size or
    /// less (scores there came out 20-30% lower, so a face that came closer looked worse and
    /// was not embedded again). The landmarks are fitted on the full frame whatever the scan.
    public static func quality(of f: Face) -> Double {
        f.landmarks.interEyeDistance * max(0.1, 1 - 2 * abs(FacePose(f.landmarks).yaw))
    }

    /// Assigns each face to a track (new or continuing); returns the track ids in the
    /// faces' order.
    public mutating func update(_ faces: [Face], at now: Date) -> [Int] {
        tracks.removeAll { now.timeIntervalSince($0.lastSeen) > maximumGap && $0.missed >= minimumMisses }
        var taken = Set<Int>()
        var out: [Int] = []
        for f in faces {
            let best = tracks.indices.filter { !taken.contains(tracks[$0].id) }
                .map { ($0, tracks[$0].box.iou(f.box)) }.max { $0.1 < $1.1 }
            if let (i, overlap) = best, overlap >= minimumOverlap {
                taken.insert(tracks[i].id)
                tracks[i].box = f.box
                tracks[i].lastSeen = now
                tracks[i].frames += 1
                tracks[i].missed = 0
                out.append(tracks[i].id)
            } else {
                let t = Track(id: nextID, box: f.box, firstSeen: now, lastSeen: now, frames: 1)
                nextID += 1
                tracks.append(t)
                taken.insert(t.id)
                out.append(t.id)
            }
        }
        for i in tracks.indices where !taken.contains(tracks[i].id) { tracks[i].missed += 1 }
        return out
    }
}
