import Foundation
import Testing
@testable import Policy

@Suite("Liveness in the policy")
struct LivenessPolicyTests {
    let tuesday9 = t("2026-12-01 09:00")

    /// Wherever a face alone can open a door of the example, liveness is required.
    @Test func theExampleRequiresLivenessWhereAFaceAloneOpens() {
        let e = Example.engine
        #expect(e.liveness(for: Example.policy.doors["lobby"]!, at: tuesday9) == .required)
        #expect(e.liveness(for: Example.policy.doors["office"]!, at: tuesday9) == .required)
        #expect(e.liveness(for: Example.policy.doors["server-room"]!, at: tuesday9) == .off)
        #expect(e.mayRequireLiveness(Example.policy.doors["lobby"]!) && !e.mayRequireLiveness(Example.policy.doors["server-room"]!))
    }

    @Test func aLiveFaceOpensAndEveryOtherVerdictIsItsOwnReason() {
        #expect(ask("lobby", tuesday9, staff, [.face], liveness: .live).allow)
        let unsure = ask("lobby", tuesday9, staff, [.face], liveness: .unsure)
        #expect(!unsure.allow && unsure.reasons == [.livenessUnsure] && unsure.rule == "liveness:lobby")
        let unchecked = ask("lobby", tuesday9, staff, [.face], liveness: .notChecked)
        #expect(!unchecked.allow && unchecked.reasons == [.livenessUnsure])
        let attack = ask("lobby", tuesday9, staff, [.face], liveness: .attack)
        #expect(!attack.allow && attack.reasons == [.presentationAttack])
        // Nobody recognised, and the face was a print: the attack is the reason a guard needs.
        let unknownPrint = ask("lobby", tuesday9, nil, [], failed: [.face], badge: .none, liveness: .attack)
        #expect(unknownPrint.reasons == [.presentationAttack])
        // Where liveness is off, a face counts without it; an attack still never passes.
        var p = Example.policy
        p.doors["office"]!.liveness = .off
        let off = PolicyEngine(policy: p)
        #expect(ask("office", tuesday9, staff, [.face], engine: off, liveness: .notChecked).allow)
        #expect(!ask("office", tuesday9, staff, [.face], engine: off, liveness: .attack).allow)
    }

    /// No PAD model: the lobby's face factor is out of service, so its camera_fallback
    /// (badge) applies; a face alone is refused with liveness_unavailable.
    @Test func withoutAModelTheFaceFactorIsOutOfService() {
        let face = ask("lobby", tuesday9, staff, [.face], liveness: .unavailable)
        #expect(!face.allow && face.reasons == [.livenessUnavailable])
        let badge = ask("lobby", tuesday9, staff, [.badge], liveness: .unavailable)
        #expect(badge.allow && badge.reasons.contains(.cameraFallback))
        // A door that denies on fallback stays shut to faces.
        var p = Example.policy
        p.doors["lobby"]!.cameraFallback = .deny
        let strict = ask("lobby", tuesday9, staff, [.badge], engine: PolicyEngine(policy: p), liveness: .unavailable)
        #expect(!strict.allow && strict.reasons == [.livenessUnavailable])
    }

    @Test func scheduleOverridesAndZoneInheritance() throws {
        let p = try PolicyLoader().load(sources: [("site.yaml", """
        site: {name: T, timezone: UTC}
        zones:
          - {id: building, liveness: required}
          - {id: lab, parent: building}
          - {id: yard, liveness: off}
        schedules:
          - id: nights
            windows: [{days: all, from: "20:00", to: "24:00"}]
        groups: [{id: g}]
        doors:
          - {id: lab-door, into: lab, factors: face}
          - {id: yard-gate, into: yard, factors: face, liveness_schedule: [{schedule: nights, liveness: required}]}
          - {id: side, into: lab, factors: face, liveness: off}
        grants:
          - {id: all, to: "group:g", zone: building}
        """)])
        let e = PolicyEngine(policy: p)
        let day = t("2026-12-01 10:00", TimeZone(identifier: "UTC")!), night = t("2026-12-01 21:00", TimeZone(identifier: "UTC")!)
        #expect(e.liveness(for: p.doors["lab-door"]!, at: day) == .required)     // from the parent zone
        #expect(e.liveness(for: p.doors["side"]!, at: day) == .off)              // the door's own
        #expect(e.liveness(for: p.doors["yard-gate"]!, at: day) == .off)
        #expect(e.liveness(for: p.doors["yard-gate"]!, at: night) == .required)  // the schedule's
        #expect(e.mayRequireLiveness(p.doors["yard-gate"]!) && !e.mayRequireLiveness(p.doors["side"]!))
    }

    @Test func aBadLivenessValueIsLocated() {
        do {
            _ = try PolicyLoader().load(sources: [("d.yaml", """
            site: {name: T, timezone: UTC}
            zones: [{id: a}]
            doors:
              - {id: d, into: a, factors: face, liveness: maybe}
            """)])
            Issue.record("a liveness of 'maybe' loaded")
        } catch {
            let issue = error.issues.first { $0.message.contains("liveness must be required or off") }
            #expect(issue?.file == "d.yaml" && issue?.line == 4)
        }
    }
}
