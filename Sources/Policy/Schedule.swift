import Foundation

public enum Weekday: Int, Sendable, CaseIterable, Comparable {
    case sun = 1, mon, tue, wed, thu, fri, sat
    public static func < (a: Weekday, b: Weekday) -> Bool { a.rawValue < b.rawValue }

    public static func parse(_ s: String) -> Weekday? {
        switch s.lowercased().prefix(3) {
        case "sun": return .sun; case "mon": return .mon; case "tue": return .tue; case "wed": return .wed
        case "thu": return .thu; case "fri": return .fri; case "sat": return .sat
        default: return nil
        }
    }
    var previous: Weekday { Weekday(rawValue: rawValue == 1 ? 7 : rawValue - 1)! }
}

/// A weekly window in the site's local time. `to` may be before `from`: the window then runs
/// past midnight into the next day, and belongs to the day it starts on.
public struct TimeWindow: Sendable, Equatable {
    public var days: Set<Weekday>
    /// Minutes after local midnight, 0...1440.
    public var from: Int
    public var to: Int
    public init(days: Set<Weekday>, from: Int, to: Int) { self.days = days; self.from = from; self.to = to }

    public var crossesMidnight: Bool { to < from }

    /// Minute intervals it covers in a week (0 = Sunday 00:00), for overlap checks.
    func weekIntervals() -> [Range<Int>] {
        var out: [Range<Int>] = []
        let week = 7 * 1440
        for d in days {
            let start = (d.rawValue - 1) * 1440 + from
            let end = (d.rawValue - 1) * 1440 + (crossesMidnight ? 1440 + to : to)
            if end <= week { out.append(start..<end) } else { out.append(start..<week); out.append(0..<(end - week)) }
        }
        return out
    }
}

public struct HolidayCalendar: Sendable, Equatable {
    public var id: String
    /// Local dates, YYYY-MM-DD.
    public var dates: Set<String>
    public init(id: String, dates: Set<String>) { self.id = id; self.dates = dates }
}

/// Weekly windows, off on holidays, within an optional validity range of local dates.
public struct Schedule: Sendable, Equatable {
    public var id: String
    public var windows: [TimeWindow]
    /// Holiday calendars: on their dates the schedule's windows do not open.
    public var holidays: [String]
    /// First and last local date (YYYY-MM-DD) on which windows open.
    public var validFrom: String?
    public var validUntil: String?

    public init(id: String, windows: [TimeWindow], holidays: [String] = [], validFrom: String? = nil, validUntil: String? = nil) {
        self.id = id; self.windows = windows; self.holidays = holidays; self.validFrom = validFrom; self.validUntil = validUntil
    }

    /// Whether a window is open at `time`. A window that crosses midnight counts for the
    /// date it starts on (a Friday night shift ending Saturday 06:00 is Friday's).
    public func isActive(at time: Date, in tz: TimeZone, calendars: [String: HolidayCalendar]) -> Bool {
        let now = LocalTime(time, tz)
        let yesterday = LocalTime(time, tz, dayOffset: -1)
        for w in windows {
            if w.days.contains(now.weekday), opensOn(now.date, calendars) {
                if w.crossesMidnight ? now.minute >= w.from : (now.minute >= w.from && now.minute < w.to) { return true }
            }
            if w.crossesMidnight, w.days.contains(yesterday.weekday), opensOn(yesterday.date, calendars), now.minute < w.to {
                return true
            }
        }
        return false
    }

    private func opensOn(_ date: String, _ calendars: [String: HolidayCalendar]) -> Bool {
        if let f = validFrom, date < f { return false }
        if let u = validUntil, date > u { return false }
        return !holidays.contains { calendars[$0]?.dates.contains(date) ?? false }
    }
}

/// An instant seen on the site's wall clock.
struct LocalTime {
    let weekday: Weekday
    /// YYYY-MM-DD
    let date: String
    /// Minutes after local midnight, with seconds as a fraction dropped (0...1439).
    let minute: Int

    init(_ time: Date, _ tz: TimeZone, dayOffset: Int = 0) {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        let c = cal.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: time)
        if dayOffset == 0 {
            weekday = Weekday(rawValue: c.weekday!)!
            date = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
        } else {
            // The calendar date before, by date arithmetic (not 24 hours: days can be 23 or 25 hours long).
            let noon = cal.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: 12))!
            let other = cal.date(byAdding: .day, value: dayOffset, to: noon)!
            let o = cal.dateComponents([.year, .month, .day, .weekday], from: other)
            weekday = Weekday(rawValue: o.weekday!)!
            date = String(format: "%04d-%02d-%02d", o.year!, o.month!, o.day!)
        }
        minute = c.hour! * 60 + c.minute!
    }
}

/// Times as a site's people write and read them: in the site's time zone, to the minute.
public enum SiteLocalTime {
    public static func formatter(_ format: String, _ tz: TimeZone) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = tz; f.dateFormat = format
        return f
    }

    /// `YYYY-MM-DD HH:MM` (or with a T, seconds, or a day alone) in the site's zone; strict:
    /// the text must be exactly one of the forms, nothing dropped after it. The T forms are
    /// what a browser's date and datetime-local fields send.
    public static func parse(_ s: String, in tz: TimeZone) -> Date? {
        for format in ["yyyy-MM-dd HH:mm", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd"] {
            let f = formatter(format, tz)
            if let d = f.date(from: s), f.string(from: d) == s { return d }
        }
        return nil
    }

    /// `2026-12-02 09:30 Wed +01:00`: the site's wall clock with the weekday schedules go
    /// by, and the offset that says which 02:30 on the night the clocks go back.
    public static func format(_ d: Date, in tz: TimeZone) -> String { formatter("yyyy-MM-dd HH:mm EEE xxx", tz).string(from: d) }
}
