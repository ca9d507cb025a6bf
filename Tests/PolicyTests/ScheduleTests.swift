import Foundation
import Testing
@testable import Policy

@Suite("Schedules")
struct ScheduleTests {
    let berlin = Example.berlin
    func active(_ s: Schedule, _ when: Date, _ cal: [String: HolidayCalendar] = [:]) -> Bool { s.isActive(at: when, in: berlin, calendars: cal) }

    @Test func windowsThatCrossMidnight() {
        let after = Example.policy.schedules["after-hours"]!
        let cal = Example.policy.holidays
        #expect(active(after, t("2026-11-30 23:00"), cal))   // Monday night
        #expect(active(after, t("2026-12-01 07:59"), cal))   // Tuesday morning, Monday's window
        #expect(!active(after, t("2026-12-01 08:00"), cal))
        #expect(!active(after, t("2026-12-01 17:59"), cal))
        #expect(active(after, t("2026-12-04 23:59"), cal))   // Friday to 24:00
        #expect(active(after, t("2026-12-05 00:00"), cal))   // Saturday all day
        // Monday early is after hours too: the example has a Monday 00:00-08:00 window
        // (it had none, and the night into Monday was in no schedule: issue 39).
        #expect(active(after, t("2026-12-07 07:00"), cal))
        #expect(!active(after, t("2026-12-07 08:00"), cal))
        // A window that ends at 24:00 does not spill into the next day.
        let weekend = Schedule(id: "weekend", windows: [TimeWindow(days: [.sat, .sun], from: 0, to: 24 * 60)])
        #expect(active(weekend, t("2026-12-06 23:59")))
        #expect(!active(weekend, t("2026-12-07 00:00")) && !active(weekend, t("2026-12-07 07:00")))
    }

    @Test func holidaysStopAWindowOnItsOwnDayOnly() {
        let night = Schedule(id: "night", windows: [TimeWindow(days: Set(Weekday.allCases), from: 22 * 60, to: 6 * 60)], holidays: ["h"])
        let cal = ["h": HolidayCalendar(id: "h", dates: ["2026-12-25"])]
        #expect(!active(night, t("2026-12-25 23:00"), cal))  // starts on the holiday: closed
        #expect(active(night, t("2026-12-25 05:00"), cal))   // started on the 24th: runs into the holiday morning
        #expect(!active(night, t("2026-12-26 05:00"), cal))  // started on the 25th: closed
        #expect(active(night, t("2026-12-26 23:00"), cal))
    }

    @Test func springForwardSkipsTheMissingHour() {
        // 2026-03-29: Berlin jumps from 02:00 to 03:00.
        let s = Schedule(id: "s", windows: [TimeWindow(days: [.sun], from: 2 * 60, to: 3 * 60)])
        let utc = TimeZone(identifier: "UTC")!
        #expect(!active(s, t("2026-03-29 00:59:59", utc)))  // 01:59:59 CET
        #expect(!active(s, t("2026-03-29 01:00:00", utc)))  // 03:00:00 CEST: the window never opened
        // An office day across the change keeps its wall-clock hours.
        let office = Schedule(id: "o", windows: [TimeWindow(days: [.mon], from: 8 * 60, to: 18 * 60)])
        #expect(active(office, t("2026-03-30 06:30", utc)))  // 08:30 CEST
        #expect(!active(office, t("2026-03-30 05:30", utc))) // 07:30 CEST
    }

    @Test func fallBackRunsTheRepeatedHourTwice() {
        // 2026-10-25: Berlin goes back from 03:00 CEST to 02:00 CET; 02:00-03:00 happens twice.
        let s = Schedule(id: "s", windows: [TimeWindow(days: [.sun], from: 2 * 60, to: 3 * 60)])
        let utc = TimeZone(identifier: "UTC")!
        #expect(active(s, t("2026-10-25 00:30", utc)))   // 02:30 CEST
        #expect(active(s, t("2026-10-25 01:30", utc)))   // 02:30 CET
        #expect(!active(s, t("2026-10-25 02:00", utc)))  // 03:00 CET
        // An overnight window ending 06:00 spans 9 real hours that night.
        let night = Schedule(id: "n", windows: [TimeWindow(days: [.sat], from: 22 * 60, to: 6 * 60)])
        #expect(active(night, t("2026-10-25 04:59", utc)))  // 05:59 CET
        #expect(!active(night, t("2026-10-25 05:00", utc))) // 06:00 CET
    }

    @Test func validityRange() {
        let s = Schedule(id: "v", windows: [TimeWindow(days: Set(Weekday.allCases), from: 0, to: 1440)], validFrom: "2026-12-01", validUntil: "2026-12-31")
        #expect(!active(s, t("2026-11-30 12:00")))
        #expect(active(s, t("2026-12-01 00:00")))
        #expect(active(s, t("2026-12-31 23:59")))
        #expect(!active(s, t("2027-01-01 00:00")))
    }
}
