import Foundation
import Testing
@testable import Policy

// 2026-12-01 is a Tuesday; 2026-12-24 a Thursday and a holiday in the example.
@Suite("Policy decisions")
struct EngineTests {
    let tuesday9 = t("2026-12-01 09:00")
    let tuesday22 = t("2026-12-01 22:00")

    @Test func theExampleSiteLoads() {
        let p = Example.policy
        #expect(p.name == "Example HQ" && p.timeZone.identifier == "Europe/Berlin")
        #expect(Set(p.doors.keys) == ["lobby", "office", "server-room", "server-room-exit"])
        #expect(p.lineage(of: "server-room") == ["server-room", "office-floor", "building"])
    }

    @Test func firstPersonInStartsTheScheduledUnlock() {
        var state = SiteState()
        // Before anyone arrives the lobby is locked and wants a face.
        #expect(Example.engine.effectiveMode(door: Example.policy.doors["lobby"]!, at: tuesday9, state: state) == .normal)
        let first = ask("lobby", tuesday9, staff, [.face], state: state)
        #expect(first.allow && first.reasons == [.firstPersonIn] && first.action == .release(seconds: 5))
        #expect(first.rule == "grant:staff-building")
        state.apply(first.changes)
        let later = ask("lobby", t("2026-12-01 10:00"), nil, [], badge: .none, state: state)
        #expect(later.allow && later.reasons == [.scheduledUnlock] && later.action == .alreadyReleased)
        // The next day starts locked again.
        #expect(Example.engine.effectiveMode(door: Example.policy.doors["lobby"]!, at: t("2026-12-02 09:00"), state: state) == .normal)
    }

    @Test func factorsFollowTheSchedule() {
        // After hours the lobby wants badge+face.
        let faceOnly = ask("lobby", tuesday22, admin, [.face])
        #expect(!faceOnly.allow && faceOnly.reasons == [.factorMissing(.badge)])
        #expect(ask("lobby", tuesday22, admin, [.face, .badge]).allow)
        // Staff hold the building only in business hours.
        let late = ask("lobby", tuesday22, staff, [.face, .badge])
        #expect(!late.allow && late.reasons == [.outsideSchedule])
    }

    @Test func holidaysCloseBusinessHours() {
        let d = ask("lobby", t("2026-12-24 09:00"), staff, [.face])
        #expect(!d.allow && d.reasons == [.outsideSchedule])
        #expect(ask("lobby", t("2026-12-23 09:00"), staff, [.face]).allow)
    }

    @Test func eitherFactorAndMissingFactors() {
        #expect(ask("office", tuesday9, staff, [.badge]).allow)
        #expect(ask("office", tuesday9, staff, [.face]).allow)
        let none = ask("office", tuesday9, staff, [])
        #expect(!none.allow && Set(none.reasons) == [.factorMissing(.badge), .factorMissing(.face)])
    }

    @Test func sensitiveRoomsNeedTheirOwnGrantAndBothFactors() {
        let s = ask("server-room", tuesday9, staff, [.badge, .face])
        #expect(!s.allow && s.reasons == [.noGrant])
        let badgeOnly = ask("server-room", tuesday9, admin, [.badge])
        #expect(!badgeOnly.allow && badgeOnly.reasons == [.factorMissing(.face)])
        let wrongFace = ask("server-room", tuesday9, admin, [.badge], failed: [.face])
        #expect(!wrongFace.allow && wrongFace.reasons == [.faceMismatch])
        let ok = ask("server-room", tuesday9, admin, [.badge, .face])
        #expect(ok.allow && ok.rule == "grant:admins-server-room" && ok.action == .release(seconds: 3))
        #expect(ok.changes.contains(.position(person: 2, zone: "server-room", at: tuesday9)))
    }

    @Test func twoPersonRuleAfterHours() {
        var state = SiteState()
        let first = ask("server-room", tuesday22, admin, [.badge, .face], state: state)
        #expect(!first.allow && first.reasons == [.twoPersonPending] && first.rule == "zone:server-room:two-person")
        state.apply(first.changes)
        // The same person again does not count as a second.
        let again = ask("server-room", tuesday22.addingTimeInterval(5), admin, [.badge, .face], state: state)
        #expect(!again.allow && again.reasons == [.twoPersonPending])
        // A second admin 20 s later releases the door.
        let second = ask("server-room", tuesday22.addingTimeInterval(20), admin2, [.badge, .face], state: state)
        #expect(second.allow && second.reasons.contains(.twoPersonComplete))
        state.apply(second.changes)
        #expect(!(state.pending["server-room"] ?? []).contains { $0.kind == "two-person" })
        // Outside the window the first authentication has lapsed.
        var s2 = SiteState()
        s2.apply(ask("server-room", tuesday22, admin, [.badge, .face], state: s2).changes)
        let tooLate = ask("server-room", tuesday22.addingTimeInterval(31), admin2, [.badge, .face], state: s2)
        #expect(!tooLate.allow && tooLate.reasons == [.twoPersonPending])
        // In business hours the rule does not apply.
        #expect(ask("server-room", tuesday9, admin, [.badge, .face]).allow)
    }

    @Test func hardAntiPassbackUntilExitOrReset() {
        var state = SiteState()
        let enter = ask("server-room", tuesday9, admin, [.badge, .face], state: state)
        state.apply(enter.changes)
        let again = ask("server-room", tuesday9.addingTimeInterval(60), admin, [.badge, .face], state: state)
        #expect(!again.allow && again.reasons == [.antiPassback])
        // After the 12 h reset the position is forgotten (next morning, business hours).
        #expect(ask("server-room", tuesday9.addingTimeInterval(24 * 3600), admin, [.badge, .face], state: state).allow)
        // Leaving through the exit side resets it.
        let exit = ask("server-room-exit", tuesday9.addingTimeInterval(120), admin, [.badge], state: state)
        #expect(exit.allow)
        state.apply(exit.changes)
        #expect(ask("server-room", tuesday9.addingTimeInterval(180), admin, [.badge, .face], state: state).allow)
    }

    @Test func softAntiPassbackLogsWithoutDenying() throws {
        var p = Example.policy
        p.zones["server-room"]!.rules.antiPassback = AntiPassback(mode: .soft)
        let engine = PolicyEngine(policy: p)
        var state = SiteState()
        state.apply(ask("server-room", tuesday9, admin, [.badge, .face], state: state, engine: engine).changes)
        let d = ask("server-room", tuesday9.addingTimeInterval(60), admin, [.badge, .face], state: state, engine: engine)
        #expect(d.allow && d.reasons.contains(.antiPassbackSoft))
    }

    @Test func visitorsNeedAnEscort() {
        var state = SiteState()
        let alone = ask("server-room", tuesday9, visitor, [.badge, .face], state: state)
        #expect(!alone.allow && alone.reasons == [.escortRequired] && alone.rule == "zone:server-room:escort")
        state.apply(alone.changes)
        let escort = ask("server-room", tuesday9.addingTimeInterval(10), admin, [.badge, .face], state: state)
        #expect(escort.allow)
        state.apply(escort.changes)
        let withEscort = ask("server-room", tuesday9.addingTimeInterval(20), visitor, [.badge, .face], state: state)
        #expect(withEscort.allow && withEscort.reasons.contains(.escorted))
        let lapsed = ask("server-room", tuesday9.addingTimeInterval(45), person(9, ["visitors"]), [.badge, .face], state: state)
        #expect(!lapsed.allow && lapsed.reasons == [.escortRequired])
    }

    @Test func grantsExpire() {
        // visitors-server-room ends 2027-06-30 00:00 Berlin time.
        var state = SiteState()
        state.apply([.addPending(door: "server-room", SiteState.PendingAuth(person: 2, at: t("2027-07-01 09:00"), kind: "escort"))])
        let d = ask("server-room", t("2027-07-01 09:00:10"), visitor, [.badge, .face], state: state)
        #expect(!d.allow && d.reasons == [.expired])
    }

    @Test func threatLevelsAndLockdown() {
        var state = SiteState()
        state.threatLevel = 2
        let s = ask("office", tuesday9, staff, [.badge])
        #expect(!ask("office", tuesday9, staff, [.badge], state: state).allow)
        #expect(s.allow)
        let locked = ask("office", tuesday9, staff, [.badge], state: state)
        #expect(locked.reasons == [.lockdown] && locked.rule == "threat-level:2")
        #expect(ask("lobby", tuesday9, guardP, [.face], state: state).allow)
        state.threatLevel = 1
        #expect(ask("office", tuesday9, staff, [.badge], state: state).allow)
        #expect(!ask("office", tuesday9, visitor, [.badge], state: state).allow)

        var modes = SiteState()
        modes.doorModes["office"] = .locked
        let m = ask("office", tuesday9, admin, [.badge], state: modes)
        #expect(!m.allow && m.reasons == [.lockdown] && m.rule == "door-mode:locked")
        #expect(ask("office", tuesday9, person(6, ["security", "staff"]), [.badge], state: modes).allow)
        modes.doorModes["office"] = .unlocked
        #expect(ask("office", tuesday9, nil, [], badge: .none, state: modes).reasons == [.scheduledUnlock])
    }

    @Test func fireAlarmReleasesFailSafeDoorsOnly() {
        var state = SiteState()
        state.fireAlarm = true
        let lobby = ask("lobby", tuesday22, nil, [], badge: .none, state: state)
        #expect(lobby.allow && lobby.reasons == [.emergencyRelease] && lobby.action == .alreadyReleased)
        let server = ask("server-room", tuesday22, nil, [], badge: .none, state: state)
        #expect(!server.allow && server.reasons == [.notRecognized])
    }

    @Test func identityAndCredentialReasons() {
        #expect(ask("office", tuesday9, nil, [], badge: .none).reasons == [.notRecognized])
        #expect(ask("office", tuesday9, nil, [], badge: .unknown).reasons == [.badgeUnknown])
        #expect(ask("office", tuesday9, staff, [.face], badge: .revoked).reasons == [.badgeRevoked])
        #expect(ask("office", tuesday9, person(1, ["staff"], active: false), [.badge]).reasons == [.personSuspended])
        #expect(ask("office", tuesday9, person(1, ["staff"], until: tuesday9), [.badge]).reasons == [.expired])
        #expect(ask("office", tuesday9, person(1, ["staff"], from: tuesday9.addingTimeInterval(1)), [.badge]).reasons == [.notYetValid])
        #expect(ask("nowhere", tuesday9, staff, [.badge]).reasons == [.unknownDoor])
        #expect(ask("office", tuesday9, person(7, []), [.badge]).reasons == [.noGrant])
    }

    @Test func decisionsExplainThemselves() {
        let d = ask("server-room", tuesday22, admin, [.badge, .face])
        #expect(d.explanation.contains { $0.contains("factors required now: badge+face") })
        #expect(d.explanation.last?.hasPrefix("DENY: two-person rule") == true)
    }
}

/// The example policy is what a new site copies: its "after-hours" is meant as every hour
/// outside business hours (the server room's two-person rule and the lobby's badge+face
/// follow it). Monday 00:00-08:00 was in neither, so at 03:00 on a Monday one person could
/// open the server room alone.
@Suite("the example's schedules")
struct ExampleScheduleTests {
    @Test func everyHourOfAWorkingWeekIsBusinessHoursOrAfterHoursAndNeverBoth() {
        // 2026-11-30 is a Monday; no holiday that week.
        let monday = t("2026-11-30 00:30")
        for hour in 0..<(7 * 24) {
            let at = monday.addingTimeInterval(Double(hour) * 3600)
            let business = Example.engine.scheduleActive("business-hours", at), after = Example.engine.scheduleActive("after-hours", at)
            #expect(business != after, "\(at): business-hours \(business), after-hours \(after)")
        }
        #expect(Example.engine.scheduleActive("after-hours", t("2026-11-30 03:00")))
    }
}
