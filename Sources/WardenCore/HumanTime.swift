import Foundation

/// Times as people read them, everywhere a person reads one (the run log, `warden status`,
/// `policy explain`, the console): the site's wall clock with its offset from UTC, to the
/// second, so a guard in Berlin reads 02:11 for an event at 02:11 and can still tell which
/// 02:11 on the night the clocks go back. Machine formats (JSON, CSV, exports, the audit
/// log itself) keep UTC.
public enum HumanTime {
    /// "2026-12-07 17:03:06 +01:00".
    public static func text(_ d: Date, in tz: TimeZone) -> String { formatter(tz).string(from: d) }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var formatters: [String: DateFormatter] = [:]

    /// One formatter per zone: DateFormatter is costly to make and not safe to share
    /// unlocked across threads, so each use takes the lock.
    private static func formatter(_ tz: TimeZone) -> LockedFormatter {
        lock.withLock {
            if let f = formatters[tz.identifier] { return LockedFormatter(f) }
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = tz
            f.dateFormat = "yyyy-MM-dd HH:mm:ss xxx"
            formatters[tz.identifier] = f
            return LockedFormatter(f)
        }
    }

    private struct LockedFormatter {
        let f: DateFormatter
        init(_ f: DateFormatter) { self.f = f }
        func string(from d: Date) -> String { HumanTime.lock.withLock { f.string(from: d) } }
    }
}
