import Foundation

/// Head pose from dlib's five landmarks, coarse but enough to tell frontal from a slight
/// turn or tilt. Both are in units of the inter-eye distance, after removing roll.
public struct FacePose: Sendable, Equatable, Codable {
    /// The nose's offset along the eye line from the eyes' midpoint: 0 frontal; positive
    /// when the nose points to the image's right, i.e. the person turned to their own left
    /// (the camera faces them). About ±0.13 in ordinary portraits, ±0.3 a three-quarter view.
    public var yaw: Double
    /// The nose base's distance below the eye line. About 0.75 for a frontal face in the
    /// development set (0.56 to 0.81 over one person's portraits); smaller when the chin is
    /// raised, larger when lowered. It differs from face to face, so poses are compared
    /// with the same person's own frontal value (`TemplateSelection`).
    public var noseDrop: Double

    /// In-plane tilt of the eye line, degrees.
    public var roll: Double

    public init(yaw: Double, noseDrop: Double, roll: Double = 0) { self.yaw = yaw; self.noseDrop = noseDrop; self.roll = roll }

    public init(_ l: FaceLandmarks) {
        let right = l.rightEyeCenter, left = l.leftEyeCenter
        let d = l.interEyeDistance
        // The eye line runs from the image-left eye (dlib's "left") to the image-right one.
        let roll = atan2(right.y - left.y, right.x - left.x)
        let mid = Point(x: (left.x + right.x) / 2, y: (left.y + right.y) / 2)
        // The nose's offset along the eye line and across it, in eye distances.
        let nx = l.noseBase.x - mid.x, ny = l.noseBase.y - mid.y
        let along = nx * cos(roll) + ny * sin(roll)
        let across = -nx * sin(roll) + ny * cos(roll)
        self.init(yaw: d > 0 ? along / d : 0, noseDrop: d > 0 ? across / d : 0, roll: roll * 180 / .pi)
    }
}
