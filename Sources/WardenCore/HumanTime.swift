import Foundation

/// Times as people read them, everywhere a person reads one (the run log, `warden status`,
/// `policy explain`, the console): the site's wall clock with its offset from UTC, to the
/// second, so a guard in Berlin reads 02:11 for an event at 02:11 and can still tell which
/// 02:11 on the night the clocks go back. Machine formats (JSON, CSV, exports, the audit
/// log itself) keep UTC.
public enum HumanTime {
    /// "2026-12-07 17:03:06 +01:00".
    public static func text(_ d: Date, in tz: TimeZone) -> String {
        let w = wallClock(d, in: tz)
        return "\(w.date) \(w.time) \(w.offset)"
    }

    /// The wall clock at `d` in `tz`, in parts: "2026-12-07", "17:03:06", "+01:00". The
    /// audit log's site-local time is the same parts joined its own way (`AuditTime.local`).
    public static func wallClock(_ d: Date, in tz: TimeZone) -> (date: String, time: String, offset: String) {
        let offset = tz.secondsFromGMT(for: d)
        var secs = time_t(Int64(d.timeIntervalSince1970.rounded(.down)) + Int64(offset))
        var tm = tm()
        gmtime_r(&secs, &tm)
        return (String(format: "%04d-%02d-%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday)),
                String(format: "%02d:%02d:%02d", Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec)),
                String(format: "%@%02d:%02d", offset >= 0 ? "+" : "-", abs(offset) / 3600, abs(offset) % 3600 / 60))
    }
}
