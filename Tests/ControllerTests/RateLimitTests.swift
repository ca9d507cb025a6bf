import Audit
import Foundation
import Testing
@testable import Controller

@Suite("Event flood limiting")
struct RateLimitTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func keepsTheFirstAndLastOfABurstAndCountsTheRest() {
        var l = EventRateLimiter(burst: 3, window: 10)
        var written: [AuditEvent] = []
        for i in 0..<10 {
            written += l.admit(AuditEvent(at: t0.addingTimeInterval(Double(i) * 0.1), kind: .door, type: "door.rex", door: "lobby", detail: ["i": String(i)]))
        }
        #expect(written.map { $0.detail?["i"] } == ["0", "1", "2"])
        #expect(l.flush(now: t0.addingTimeInterval(5)).isEmpty)  // window still open
        let summary = l.flush(now: t0.addingTimeInterval(10))
        #expect(summary.count == 1)
        #expect(summary[0].detail?["i"] == "9" && summary[0].detail?["suppressed"] == "6")
        // Other doors and other event types have their own budgets; decisions are never limited.
        var m = EventRateLimiter(burst: 1, window: 10)
        #expect(m.admit(AuditEvent(at: t0, kind: .door, type: "door.rex", door: "a")).count == 1)
        #expect(m.admit(AuditEvent(at: t0, kind: .door, type: "door.rex", door: "b")).count == 1)
        #expect(m.admit(AuditEvent(at: t0, kind: .door, type: "door.opened", door: "a")).count == 1)
        for _ in 0..<50 { #expect(m.admit(AuditEvent(at: t0, kind: .decision, type: "access.denied", door: "a")).count == 1) }
        // A new window after a flood starts with the summary of the old one.
        #expect(m.admit(AuditEvent(at: t0, kind: .door, type: "door.rex", door: "a")).isEmpty)
        let next = m.admit(AuditEvent(at: t0.addingTimeInterval(11), kind: .door, type: "door.rex", door: "a"))
        #expect(next.count == 2 && next[0].detail?["suppressed"] == "0")
    }
}

@Suite("A chattering contact", .serialized, .enabled(if: Paths.haveFixtures, "needs the fixtures and models from `make setup`"))
struct ChatterTests {
    /// A contact that bounces open and shut 200 times floods nothing: the state machine
    /// sees every change, the log keeps the first events of each kind and the last, with
    /// the count of those left out.
    @Test func aFloodOfDoorEventsIsLimitedButNotLost() throws {
        let r = try Rig(at: "23:00")
        let contact = r.s.pinMap.doors["server-room"]!.contact!
        for i in 0..<200 {
            try r.s.gpio.drive(contact, high: i % 2 == 0)
            r.s.run(for: 0.03, step: 0.03)
        }
        try r.s.gpio.drive(contact, high: false)
        r.s.run(for: 12)
        let doorEvents = try r.events().filter { $0.kind == .door && $0.door == "server-room" }
        let forced = doorEvents.filter { $0.type == "door.forced_open" }
        #expect(forced.count <= 21 && forced.count >= 2)
        let summary = try #require(forced.last)
        #expect(Int(summary.detail?["suppressed"] ?? "0")! > 50)
        #expect(doorEvents.count < 100)
        #expect(r.s.site.doorState("server-room")?.contactOpen == false)  // the last state is right
        r.s.finish()
        #expect(try r.s.auditStore.verify().ok)
    }
}
