import Foundation
import Testing
@testable import Policy

@Suite("Policy files")
struct LoaderTests {
    func errors(_ files: [(String, String)]) -> [PolicyIssue] {
        do { _ = try PolicyLoader().load(sources: files); return [] } catch { return error.issues }
    }

    let base = """
    site: {name: T, timezone: UTC}
    zones:
      - {id: a}
    schedules:
      - id: always
        windows: [{days: all, from: "00:00", to: "24:00"}]
    groups: [{id: g}]

    """

    @Test func unknownReferencesAreLocatedWithWhatWasExpected() {
        let issues = errors([("doors.yaml", """
        doors:
          - id: d
            into: nowhere
            factors: face
            unlock_schedule: never
        """), ("base.yaml", base)])
        #expect(issues.count == 2)
        let zone = issues.first { $0.message.contains("zone 'nowhere'") }
        #expect(zone?.file == "doors.yaml" && zone?.line == 3 && zone?.column == 11)
        #expect(zone?.message.contains("expected one of: a") == true)
        #expect(issues.contains { $0.message.contains("schedule 'never'") && $0.line == 5 })
    }

    /// `Front.Door` and `front_door` fold to one MQTT topic level: they would publish to the
    /// same topics and one Home Assistant device, and a command for one would reach the other.
    @Test func doorIDsThatShareAnMQTTTopicAreRefused() {
        let issues = errors([("doors.yaml", """
        doors:
          - {id: Front.Door, into: a, factors: badge}
          - {id: front_door, into: a, factors: badge}
          - {id: Back-Door, into: a, factors: badge}
        """), ("base.yaml", base)])
        #expect(issues.count == 1, "\(issues)")
        #expect(issues.first?.message.contains("would share MQTT topics") == true && issues.first?.message.contains("front_door") == true, "\(issues)")
        #expect(issues.first?.file == "doors.yaml")
    }

    @Test func syntaxErrorsCarryTheirLine() {
        let issues = errors([("bad.yaml", "zones:\n  - id: a\n   parent: [b\n")])
        #expect(issues.count == 1)
        #expect(issues[0].file == "bad.yaml" && issues[0].line >= 3 && issues[0].message.hasPrefix("not valid YAML"))
    }

    @Test func zoneCyclesAreCaught() {
        let issues = errors([("z.yaml", """
        zones:
          - {id: a, parent: c}
          - {id: b, parent: a}
          - {id: c, parent: b}
        """)])
        #expect(issues.contains { $0.message.contains("cycle") })
    }

    @Test func overlappingAndEmptyWindows() {
        let issues = errors([("s.yaml", """
        schedules:
          - id: s
            windows:
              - {days: mon-fri, from: "08:00", to: "18:00"}
              - {days: fri, from: "17:00", to: "20:00"}
              - {days: sat, from: "09:00", to: "09:00"}
              - {days: sun, from: "22:00", to: "02:00"}
              - {days: mon, from: "01:00", to: "03:00"}
        """)])
        #expect(issues.contains { $0.line == 5 && $0.message.contains("overlaps window 1") })
        #expect(issues.contains { $0.line == 6 && $0.message.contains("is empty") })
        // Sunday 22:00-02:00 runs into Monday and overlaps Monday 01:00-03:00.
        #expect(issues.contains { $0.line == 8 && $0.message.contains("overlaps window 4") })
    }

    @Test func aDoorWithNoFactorAndOtherMistakes() {
        let issues = errors([("base.yaml", base), ("d.yaml", """
        doors:
          - id: d
            into: a
            strike_time: soon
          - id: e
            into: a
            factors: retina
            colour: red
        schedules:
          - id: t
            windows: [{days: [funday], from: "25:00", to: "26:00"}]
        grants:
          - {to: "team:x", zone: a}
          - {to: "group:nobody", zone: a, until: 31/12/2026}
        """)])
        let messages = issues.map(\.message)
        #expect(messages.contains { $0.contains("door 'd' has no factors") })
        #expect(messages.contains { $0.contains("'strike_time' must be a duration") })
        #expect(messages.contains { $0.contains("factors must be one of face, badge, badge+face, badge|face") })
        #expect(messages.contains { $0.contains("unknown key 'colour'") })
        #expect(messages.contains { $0.contains("unknown day 'funday'") })
        #expect(messages.contains { $0.contains("'from' must be a time HH:MM") })
        #expect(messages.contains { $0.contains("'to' must be group:NAME or person:ID") })
        #expect(messages.contains { $0.contains("group 'nobody' is not defined") })
        #expect(messages.contains { $0.contains("until must be a date") })
        #expect(issues.allSatisfy { $0.line > 0 && $0.column > 0 })
    }

    @Test func duplicatesAndUnknownSections() {
        let issues = errors([("x.yaml", "zones:\n  - {id: a}\n  - {id: a}\nfloors: []\n")])
        #expect(issues.contains { $0.message.contains("defined twice") && $0.line == 3 })
        #expect(issues.contains { $0.message.contains("unknown section 'floors'") && $0.line == 4 })
    }

    @Test func grantExpiryUsesTheSiteTimeZoneWhateverTheFileOrder() throws {
        let p = try PolicyLoader().load(sources: [
            ("a-grants.yaml", "grants:\n  - {to: \"group:g\", zone: a, until: 2027-01-01}\n"),
            ("b-site.yaml", base.replacingOccurrences(of: "UTC", with: "Asia/Tokyo")),
        ])
        #expect(p.grants[0].until == t("2027-01-01 00:00", TimeZone(identifier: "Asia/Tokyo")!))
    }
}
