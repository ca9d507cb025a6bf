import Foundation
import Testing

@Suite("warden policy / grant / group", .serialized)
struct PolicyCommandTests {
    @Test func checkAcceptsTheExampleAndLocatesMistakes() throws {
        let ok = try CLI.run(["policy", "check", CLI.root.appendingPathComponent("policies/example").path])
        #expect(ok.status == 0 && ok.stdout.contains("OK:") && ok.stdout.contains("4 doors"))
        #expect(!ok.stdout.contains("warning:"), "the example has a door a photo could open: \(ok.stdout)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-policy-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "zones:\n  - {id: lab, parent: wing}\ndoors:\n  - id: lab-door\n    into: lab\n".write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        let bad = try CLI.run(["policy", "check", dir.path, "--json"])
        #expect(bad.status == 1)
        let problems = try #require((try bad.json() as? [String: Any])?["problems"] as? [String])
        #expect(problems.contains { $0.hasSuffix("site.yaml:2:23: parent zone 'wing' is not defined; expected one of: lab") })
        #expect(problems.contains { $0.contains("site.yaml:4:9: door 'lab-door' has no factors") })
    }

    /// Valid, but a face alone opens it without liveness: a warning that names the door.
    @Test func checkWarnsOfADoorAPhotoCouldOpen() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-policy-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        site: {name: T, timezone: UTC}
        zones: [{id: lab}]
        doors:
          - {id: lab-door, into: lab, factors: badge|face}
          - {id: vault, into: lab, factors: face, liveness: required}
          - {id: store, into: lab, factors: badge+face}
        """.write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["policy", "check", dir.path, "--json"])
        #expect(r.status == 0)
        let warnings = try #require((try r.json() as? [String: Any])?["warnings"] as? [String])
        #expect(warnings.count == 1 && warnings[0].hasPrefix("door lab-door: a face alone can open it"))
    }

    @Test func explainGrantRevokeAndGroups() throws {
        let home = CLI.Home()
        func w(_ a: String...) throws -> CLI.Result { try CLI.run(a, home: home) }
        #expect(try w("person", "add", "Ada", "--external-id", "E1").status == 0)
        let before = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-01 10:00", "--json").json() as? [String: Any])
        #expect(before["allow"] as? Bool == false && before["reasons"] as? [String] == ["no_grant"])

        #expect(try w("grant", "add", "E1", "office-floor", "--until", "2026-12-05", "--operator", "boss").status == 0)
        let granted = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-01 10:00", "--json").json() as? [String: Any])
        #expect(granted["allow"] as? Bool == true && granted["rule"] as? String == "grant:grant-1")
        let lapsed = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-06 10:00", "--json").json() as? [String: Any])
        #expect(lapsed["reasons"] as? [String] == ["expired"])
        let printed = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-01 10:00", "--factors", "face",
                                         "--liveness", "attack", "--json").json() as? [String: Any])
        #expect(printed["allow"] as? Bool == false && printed["reasons"] as? [String] == ["presentation_attack"])
        // One id for the grant everywhere: listed, decided and revoked as grant-1.
        #expect(try w("grant", "list").stdout.contains("grant-1"))
        #expect(try w("revoke", "grant-1").status == 0)
        // The earlier name still revokes (scripts written for it keep working).
        #expect(try w("grant", "add", "E1", "office-floor").status == 0)
        #expect(try w("revoke", "cli-2").status == 0)
        #expect(try w("revoke", "staff-office").status != 0)  // file grants are edited in the files

        #expect(try w("group", "add", "E1", "it-admins").status == 0)
        #expect(try w("group", "add", "E1", "no-such-group").status == 1)
        let room = try #require(try w("policy", "explain", "--person", "E1", "--door", "server-room", "--at", "2026-12-01 10:00", "--json").json() as? [String: Any])
        #expect(room["allow"] as? Bool == true)
        let human = try w("policy", "explain", "--person", "E1", "--door", "server-room", "--at", "2026-12-01 22:00")
        #expect(human.stdout.contains("DENY") && human.stdout.contains("two_person_pending") && human.stdout.contains("granted by admins-server-room"))

        // Every change above is in the audit log, attributed.
        let log = try w("audit", "export", "--format", "jsonl")
        #expect(log.stdout.contains("\"type\":\"admin.grant\"") && log.stdout.contains("\"operator\":\"boss\""))
        #expect(log.stdout.contains("admin.revoke") && log.stdout.contains("admin.group_add_member"))
        #expect(try w("audit", "verify").status == 0)
    }

    @Test func listsZonesAndDoors() throws {
        let zones = try CLI.run(["zone", "list", "--json"])
        #expect((try zones.json() as? [[String: Any]])?.count == 3)
        let doors = try CLI.run(["door", "list"])
        #expect(doors.stdout.contains("server-room (Server room): office-floor -> server-room; badge+face"))
    }
}
