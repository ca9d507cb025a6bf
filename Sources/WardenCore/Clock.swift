import Foundation

/// Where "now" comes from. Production uses the system clock; tests use `ManualClock` and
/// move time themselves, so timed behaviour (strike times, held-open alarms, Wiegand frame
/// gaps) is tested without sleeping and without timing assertions.
public protocol WardenClock: Sendable {
    var now: Date { get }
}

public struct SystemClock: WardenClock {
    public init() {}
    public var now: Date { Date() }
}

/// A clock that only moves when told to.
public final class ManualClock: WardenClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = start }

    public var now: Date { lock.lock(); defer { lock.unlock() }; return current }

    public func advance(by seconds: TimeInterval) {
        lock.lock(); current = current.addingTimeInterval(seconds); lock.unlock()
    }

    public func set(_ date: Date) { lock.lock(); current = date; lock.unlock() }
}

extension ManualClock {
    /// Simulated time passing: `work` runs, then the clock moves on by `step`, until
    /// `seconds` have passed; `work` runs once more at the end.
    public func run(for seconds: TimeInterval, step: TimeInterval, _ work: () -> Void) {
        var t = 0.0
        while t < seconds {
            work()
            advance(by: step)
            t += step
        }
        work()
    }
}
