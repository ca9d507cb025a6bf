import Foundation
import Testing

@Suite("warden policy / grant / group", .serialized)
struct PolicyCommandTests {
    @Test func checkAcceptsTheExampleAndLocatesMistakes() throws {
        let ok = try CLI.run(["policy", "check", CLI.root.appendingPathComponent("policies/example").path])
        #expect(ok.status == 0 && ok.stdout.contains("OK:") && ok.stdout.contains("4 doors"))

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

    @Test func explainGrantRevokeAndGroups() throws {
        let home = CLI.Home()
        func w(_ a: String...) throws -> CLI.Result { try CLI.run(a, home: home) }
        #expect(try w("person", "add", "Ada", "--external-id", "E1").status == 0)
        let before = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-01 10:00", "--json").json() as? [String: Any])
        #expect(before["allow"] as? Bool == false && before["reasons"] as? [String] == ["no_grant"])

        #expect(try w("grant", "add", "E1", "office-floor", "--until", "2026-12-05", "--operator", "boss").status == 0)
        let granted = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-01 10:00", "--json").json() as? [String: Any])
        #expect(granted["allow"] as? Bool == true && granted["rule"] as? String == "grant:cli-1")
        let lapsed = try #require(try w("policy", "explain", "--person", "E1", "--door", "office", "--at", "2026-12-06 10:00", "--json").json() as? [String: Any])
        #expect(lapsed["reasons"] as? [String] == ["expired"])
        #expect(try w("revoke", "cli-1").status == 0)
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
