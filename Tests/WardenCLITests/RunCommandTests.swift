import Audit
import FaceKit
import Foundation
import Testing

/// `warden run` as a process: simulated GPIO, image-folder cameras, scripted inputs. The
/// policy here uses schedules that are always open, so the result does not depend on the
/// wall clock of the machine running the test.
@Suite("warden run", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct RunCommandTests {
    final class Site {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-run-\(UUID())")
        let home = CLI.Home()
        init(lobbyPhotos: [String], script: String = "") throws {
            let fm = FileManager.default
            try fm.createDirectory(at: dir.appendingPathComponent("policy"), withIntermediateDirectories: true)
            try fm.createDirectory(at: dir.appendingPathComponent("lobby-cam"), withIntermediateDirectories: true)
            for (i, p) in lobbyPhotos.enumerated() { try fm.copyItem(atPath: p, toPath: dir.appendingPathComponent("lobby-cam/f\(i).jpg").path) }
            try """
            site: {name: Test site, timezone: UTC}
            zones: [{id: office}, {id: vault, parent: office, sensitivity: 2}]
            schedules: [{id: always, windows: [{days: all, from: "00:00", to: "24:00"}]}]
            groups: [{id: staff}]
            doors:
              - {id: lobby, into: office, factors: face, fail_mode: safe, strike_time: 2s}
              - {id: server-room, into: vault, from: office, factors: badge+face, fail_mode: secure, strike_time: 2s}
            grants:
              - {to: "group:staff", zone: office, schedule: always}
              - {to: "group:staff", zone: vault}
            """.write(to: dir.appendingPathComponent("policy/site.yaml"), atomically: true, encoding: .utf8)
            try """
            policy: policy
            pinmap: \(CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
            gpio: simulated
            doors:
              lobby:
                camera: {images: lobby-cam, fps: 8, loop: true}
                face: {frames_required: 3}
              server-room:
                face: {badge_window: 1}
            simulate:
            \(script)
            """.write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(at: dir) }
        var siteFile: String { dir.appendingPathComponent("site.yaml").path }
        func w(_ a: String...) throws -> CLI.Result { try CLI.run(a, home: home) }
        func events() throws -> [AuditEvent] {
            var out: [AuditEvent] = []
            try AuditStore(home: home.path).forEachRow { _, e in out.append(e) }
            return out
        }
    }

    func fixture(_ n: String) -> String { CLI.fixtures.appendingPathComponent(n).path }

    func enrollObama(_ s: Site) throws {
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        #expect(try s.w("enroll", "P1", fixture("obama.jpg")).status == 0)
        #expect(try s.w("group", "add", "P1", "staff", "--policy", s.dir.appendingPathComponent("policy").path).status == 0)
        #expect(try s.w("badge", "issue", "P1", "12:1001").status == 0)
    }

    @Test func aFaceOpensTheLobbyAndABadgeWithoutAFaceDoesNot() throws {
        let s = try Site(lobbyPhotos: [fixture("obama2.jpg"), fixture("obama3.jpg")],
                         script: "  - {at: 0.5, door: server-room, badge: \"12:1001\"}\n  - {at: 3.0, door: server-room, contact: open}\n  - {at: 3.5, door: server-room, contact: closed}")
        try enrollObama(s)
        let r = try s.w("run", "--site", s.siteFile, "--duration", "5")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("2 of 2 doors up"))
        let ev = try s.events()
        let decisions = ev.filter { $0.kind == .decision }
        let lobby = decisions.filter { $0.door == "lobby" }
        #expect(lobby.first?.type == "access.granted" && lobby.first?.personName == "Barack Obama")
        #expect((lobby.first?.face?.frames ?? 0) >= 3)
        // The server room wants badge+face and has no camera: the badge window closes.
        let srv = decisions.filter { $0.door == "server-room" }
        #expect(srv.first?.reasons == ["factor_missing:face"])
        #expect(ev.contains { $0.type == "door.released" && $0.door == "lobby" })
        #expect(ev.contains { $0.type == "door.forced_open" && $0.door == "server-room" })
        #expect(ev.contains { $0.type == "system.start" } && ev.last?.type == "system.stop")
        #expect(try s.w("audit", "verify").status == 0)
    }

    @Test func aStrangerIsDeniedAndSIGTERMStopsCleanly() throws {
        // Two different frames of the stranger (identical frames would read as a frozen feed).
        let biden = try RGBImage(contentsOf: fixture("biden.jpg"))
        let rescaled = FileManager.default.temporaryDirectory.appendingPathComponent("warden-biden-\(UUID()).ppm")
        try Data(biden.resized(width: biden.width * 9 / 10, height: biden.height * 9 / 10).ppmData()).write(to: rescaled)
        defer { try? FileManager.default.removeItem(at: rescaled) }
        let s = try Site(lobbyPhotos: [fixture("biden.jpg"), rescaled.path])
        try enrollObama(s)
        let run = try RunningWarden(["run", "--site", s.siteFile], home: s.home)
        // Wait until it has decided on the stranger, then ask for its status.
        #expect(run.waitFor("DENIED unknown person"))
        let status = try s.w("status", "--json")
        #expect(status.status == 0, "\(status.stderr)")
        let doors = (try status.json() as? [String: Any])?["doors"] as? [[String: Any]]
        #expect(doors?.count == 2)
        let sock = s.home.url.appendingPathComponent("warden.sock").path
        #expect(try FileManager.default.attributesOfItem(atPath: sock)[.posixPermissions] as? Int == 0o600)
        #expect(run.stop() == 0)  // SIGTERM
        let ev = try s.events()
        #expect(ev.last?.type == "system.stop" && ev.last?.detail?["reason"] == "SIGTERM received")
        #expect(!ev.contains { $0.type == "access.granted" })
        #expect(ev.filter { $0.kind == .decision }.allSatisfy { $0.reasons == ["not_recognized"] })
    }

    @Test func everyProblemIsReportedBeforeAnythingStarts() throws {
        let s = try Site(lobbyPhotos: [fixture("obama.jpg")])
        try "policy: policy\npinmap: missing.yaml\ngpio: simulated\ndoors:\n  lobby: {camera: {images: no-such-folder}}\n  attic: {}\n"
            .write(to: s.dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        let r = try s.w("run", "--site", s.siteFile, "--duration", "1")
        #expect(r.status == 2)
        #expect(r.stderr.contains("no door was touched"))
        #expect(r.stderr.contains("no-such-folder") && r.stderr.contains("missing.yaml"))
        #expect(try s.events().isEmpty)
    }
}

@Suite("warden run on the shared face set", .serialized,
       .enabled(if: CLI.haveFixtures && CLI.haveSharedFaces, "needs ../shared/faces (the internal face set) and the models; absent here, so skipped"))
struct RunSharedFacesTests {
    /// An enrolled person's other photos, played as the lobby camera, open the door; a
    /// different person's photos do not.
    @Test func enrolledAndStrangerFromTheSharedSet() throws {
        func photos(_ who: String) throws -> [String] {
            let d = CLI.sharedFaces.appendingPathComponent(who)
            return try FileManager.default.contentsOfDirectory(atPath: d.path).sorted().map { d.appendingPathComponent($0).path }
        }
        let denzel = try photos("Denzel_Washington"), leo = try photos("Leonardo_DiCaprio")
        let known = try RunCommandTests.Site(lobbyPhotos: Array(denzel[1...3]))
        #expect(try known.w("person", "add", "Denzel Washington", "--external-id", "D1").status == 0)
        #expect(try known.w("enroll", "D1", denzel[0], "--largest").status == 0)
        #expect(try known.w("group", "add", "D1", "staff", "--policy", known.dir.appendingPathComponent("policy").path).status == 0)
        #expect(try known.w("run", "--site", known.siteFile, "--duration", "4").status == 0)
        #expect(try known.events().contains { $0.type == "access.granted" && $0.personName == "Denzel Washington" })

        let stranger = try RunCommandTests.Site(lobbyPhotos: Array(leo[0...2]))
        #expect(try stranger.w("person", "add", "Denzel Washington", "--external-id", "D1").status == 0)
        #expect(try stranger.w("enroll", "D1", denzel[0], "--largest").status == 0)
        #expect(try stranger.w("group", "add", "D1", "staff", "--policy", stranger.dir.appendingPathComponent("policy").path).status == 0)
        #expect(try stranger.w("run", "--site", stranger.siteFile, "--duration", "4").status == 0)
        let ev = try stranger.events()
        #expect(!ev.contains { $0.type == "access.granted" })
        #expect(ev.contains { $0.type == "access.denied" && $0.reasons == ["not_recognized"] })
    }
}

@Suite("warden run reload", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct RunReloadTests {
    /// Someone enrolled while the controller runs is recognised after SIGHUP.
    @Test func sighupPicksUpNewEnrollments() throws {
        let s = try RunCommandTests.Site(lobbyPhotos: [CLI.fixtures.appendingPathComponent("obama2.jpg").path, CLI.fixtures.appendingPathComponent("obama3.jpg").path])
        let run = try RunningWarden(["run", "--site", s.siteFile], home: s.home)
        #expect(run.waitFor("DENIED unknown person"))  // nobody enrolled yet
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        #expect(try s.w("enroll", "P1", CLI.fixtures.appendingPathComponent("obama.jpg").path).status == 0)
        #expect(try s.w("group", "add", "P1", "staff", "--policy", s.dir.appendingPathComponent("policy").path).status == 0)
        kill(run.process.processIdentifier, SIGHUP)
        #expect(run.waitFor("1 templates reloaded"))
        #expect(run.waitFor("GRANTED #1 Barack Obama"))
        #expect(run.stop() == 0)
    }
}
