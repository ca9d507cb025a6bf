import Foundation

/// A reader's lockout: `attempts` failures within `window` refuse every request for
/// `duration`. Pure.
public struct ReaderLockout {
    public let settings: LockoutSettings
    private var failures: [Date] = []
    public private(set) var lockedOutUntil: Date?

    public init(_ settings: LockoutSettings) { self.settings = settings }

    /// Whether the reader refuses now; an expired lockout ends here.
    public mutating func refuses(at now: Date) -> Bool {
        if let until = lockedOutUntil, now < until { return true }
        lockedOutUntil = nil
        return false
    }

    /// Counts a failure; true when it starts a lockout.
    public mutating func noteFailure(at now: Date) -> Bool {
        failures.append(now)
        failures.removeAll { now.timeIntervalSince($0) > settings.window }
        guard failures.count >= settings.attempts, lockedOutUntil == nil else { return false }
        lockedOutUntil = now.addingTimeInterval(settings.duration)
        failures.removeAll()
        return true
    }
}
