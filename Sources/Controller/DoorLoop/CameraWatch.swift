import Capture
import Foundation

/// Whether a door's camera can be trusted now (frames black, blinded or frozen; a live
/// camera gone silent), and how far recognition runs behind it. Pure: the door acts on what
/// it says.
struct CameraWatch {
    /// A live camera silent this long is faulted (`no_signal`).
    static let noSignalAfter: TimeInterval = 5
    /// A lag over what the door's settings work with is reported at most this often.
    static let lagReportInterval: TimeInterval = 60
    private var health = CameraHealth()
    private var lastFrameAt: Date?
    private let watchingSince: Date
    /// Frame-to-result time of the last processed frame.
    private(set) var lag: TimeInterval?
    private var lastLagReport: Date?

    init(since: Date) { watchingSince = since }

    /// A frame arrived: the fault it shows when that differs from `current` (`.some(nil)`:
    /// the fault cleared), nil when nothing changed.
    mutating func frame(_ frame: Frame, at now: Date, current: CameraHealth.Fault?) -> CameraHealth.Fault?? {
        lastFrameAt = now
        if let change = health.check(frame.image, at: frame.at) { return change }
        if current == .noSignal { return .some(health.fault) }   // frames again
        return nil
    }

    /// No frame this step: whether the camera has been silent too long.
    func silent(at now: Date) -> Bool { now.timeIntervalSince(lastFrameAt ?? watchingSince) >= Self.noSignalAfter }

    /// A result for a frame captured at `capturedAt`: true when recognition runs slower than
    /// `workable` and that is due to be reported.
    mutating func lagOverdue(capturedAt: Date, now: Date, workable: TimeInterval) -> Bool {
        let lag = max(0, now.timeIntervalSince(capturedAt))
        self.lag = lag
        guard lag > workable, lastLagReport.map({ now.timeIntervalSince($0) >= Self.lagReportInterval }) ?? true else { return false }
        lastLagReport = now
        return true
    }
}
