/// A box in image pixel coordinates; `right` and `bottom` are inclusive, as dlib reports them.
public struct FaceBox: Sendable, Equatable, Codable, Hashable {
    public var left: Int
    public var top: Int
    public var right: Int
    public var bottom: Int

    public init(left: Int, top: Int, right: Int, bottom: Int) {
        self.left = left; self.top = top; self.right = right; self.bottom = bottom
    }

    public var width: Int { right - left + 1 }
    public var height: Int { bottom - top + 1 }
    public var area: Int { max(0, width) * max(0, height) }

    /// Intersection over union, for matching detections across frames.
    public func iou(_ other: FaceBox) -> Double {
        let l = max(left, other.left), t = max(top, other.top)
        let r = min(right, other.right), b = min(bottom, other.bottom)
        guard r >= l, b >= t else { return 0 }
        let inter = Double((r - l + 1) * (b - t + 1))
        return inter / (Double(area) + Double(other.area) - inter)
    }
}

public struct Point: Sendable, Equatable, Codable, Hashable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }

    public func distance(to other: Point) -> Double { ((x - other.x) * (x - other.x) + (y - other.y) * (y - other.y)).squareRoot() }
}

/// dlib's five landmarks. "Right" and "left" are as seen in the image (the viewer's), the
/// convention of dlib's 5-point model and of face_recognition: for a face looking at the
/// camera, the right eye is the one with the larger x, which is the subject's own left eye.
public struct FaceLandmarks: Sendable, Equatable, Codable, Hashable {
    public var rightEyeOuter: Point
    public var rightEyeInner: Point
    public var leftEyeOuter: Point
    public var leftEyeInner: Point
    public var noseBase: Point

    public init(rightEyeOuter: Point, rightEyeInner: Point, leftEyeOuter: Point, leftEyeInner: Point, noseBase: Point) {
        self.rightEyeOuter = rightEyeOuter; self.rightEyeInner = rightEyeInner
        self.leftEyeOuter = leftEyeOuter; self.leftEyeInner = leftEyeInner
        self.noseBase = noseBase
    }

    public var points: [Point] { [rightEyeOuter, rightEyeInner, leftEyeOuter, leftEyeInner, noseBase] }

    public var rightEyeCenter: Point { Point(x: (rightEyeOuter.x + rightEyeInner.x) / 2, y: (rightEyeOuter.y + rightEyeInner.y) / 2) }
    public var leftEyeCenter: Point { Point(x: (leftEyeOuter.x + leftEyeInner.x) / 2, y: (leftEyeOuter.y + leftEyeInner.y) / 2) }

    /// Distance between the eye centres in pixels: the usual measure of usable face size.
    public var interEyeDistance: Double { rightEyeCenter.distance(to: leftEyeCenter) }
}

/// One detected face.
public struct Face: Sendable, Equatable, Codable, Hashable {
    public var box: FaceBox
    /// The detector's confidence; comparable only between faces from the same detector.
    public var score: Double
    public var landmarks: FaceLandmarks

    public init(box: FaceBox, score: Double, landmarks: FaceLandmarks) {
        self.box = box; self.score = score; self.landmarks = landmarks
    }
}

extension Array where Element == Face {
    /// The face with the largest box: the person nearest the camera.
    public var largest: Face? { self.max { $0.box.area < $1.box.area } }
}
