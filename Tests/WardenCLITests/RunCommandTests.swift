import PrivateServers
import Audit
import FaceKit
import Foundation
import Glibc
import Integrations
import Testing
import WardenCore

/// `warden run` as a process: simulated GPIO, image-folder cameras, scripted inputs. The
/// policy here uses schedules that are always open, so the result does not depend on the
/// wall clock of the machine running the test.
@Suite("warden run", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct RunCommandTests {
    final class Site {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-run-\(UUID())")
        let home = CLI.Home()
        /// `badgeWindow` is generous where a face is expected after a badge: how long
        /// recognition takes depends on the machine, never on the outcome.
        init(lobbyPhotos: [String], script: String = "", serverRoomPhotos: [String] = [], twoPerson: Bool = false, badgeWindow: Int = 60,
             lobbyLiveness: Bool = false, siteExtra: String = "", serverRoomPolicy: String = "", pinmap: String? = nil) throws {
            let fm = FileManager.default
            try fm.createDirectory(at: dir.appendingPathComponent("policy"), withIntermediateDirectories: true)
            try fm.createDirectory(at: dir.appendingPathComponent("lobby-cam"), withIntermediateDirectories: true)
            for (i, p) in lobbyPhotos.enumerated() { try fm.copyItem(atPath: p, toPath: dir.appendingPathComponent("lobby-cam/f\(i).jpg").path) }
            try fm.createDirectory(at: dir.appendingPathComponent("srv-cam"), withIntermediateDirectories: true)
            for (i, p) in serverRoomPhotos.enumerated() {
                try fm.copyItem(atPath: p, toPath: dir.appendingPathComponent(String(format: "srv-cam/f%03d.jpg", i)).path)
            }
            try """
            site: {name: Test site, timezone: UTC}
            zones: [{id: office}, {id: vault, parent: office, sensitivity: 2\(twoPerson ? ", rules: {two_person: {window: 300s}}" : "")}]
            schedules: [{id: always, windows: [{days: all, from: "00:00", to: "24:00"}]}]
            groups: [{id: staff}]
            doors:
              - {id: lobby, into: office, factors: face, fail_mode: safe, strike_time: 2s\(lobbyLiveness ? ", liveness: required" : "")}
              - {id: server-room, into: vault, from: office, factors: badge+face, fail_mode: secure, strike_time: 2s\(serverRoomPolicy)}
            grants:
              - {to: "group:staff", zone: office, schedule: always}
              - {to: "group:staff", zone: vault}
            """.write(to: dir.appendingPathComponent("policy/site.yaml"), atomically: true, encoding: .utf8)
            try """
            policy: policy
            pinmap: \(pinmap ?? CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
            gpio: simulated
            doors:
              lobby:
                camera: {images: lobby-cam, fps: 8, loop: true}
                face: {frames_required: 3}
              server-room:
            \(serverRoomPhotos.isEmpty ? "    face: {badge_window: 1}" : "    camera: {images: srv-cam, fps: 4, loop: true}\n    face: {badge_window: \(badgeWindow)}")
            simulate:
            \(script)
            \(siteExtra)
            """.write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(at: dir) }
        var siteFile: String { dir.appendingPathComponent("site.yaml").path }
        func w(_ a: String...) throws -> CLI.Result { try CLI.run(a, home: home) }
        /// `warden run` until `decisions` access decisions are made and the script has
        /// played; the duration only bounds a broken run.
        func run(untilDecisions decisions: Int, environment: [String: String] = [:]) throws -> CLI.Result {
            try CLI.run(["run", "--site", siteFile, "--stop-after-decisions", String(decisions), "--duration", "900"], home: home, environment: environment)
        }
        func events() throws -> [AuditEvent] {
            var out: [AuditEvent] = []
            try AuditStore(home: home.path).forEachRow { _, e in out.append(e) }
            return out
        }
    }

    func fixture(_ n: String) -> String { CLI.fixtures.appendingPathComponent(n).path }

    /// A second, different frame of one photo, as a temp PPM (a feed of one repeated frame
    /// reads as frozen).
    static func rescaled(_ photo: String) throws -> String {
        let img = try RGBImage(contentsOf: photo)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("warden-rescaled-\(UUID()).ppm")
        try Data(img.resized(width: img.width * 9 / 10, height: img.height * 9 / 10).ppmData()).write(to: out)
        return out.path
    }

    func enrollObama(_ s: Site) throws {
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        #expect(try s.w("enroll", "P1", fixture("obama.jpg")).status == 0)
        #expect(try s.w("group", "add", "P1", "staff", "--policy", s.dir.appendingPathComponent("policy").path).status == 0)
        #expect(try s.w("badge", "issue", "P1", "12:1001").status == 0)
    }

    @Test func aFaceOpensTheLobbyAndABadgeWithoutAFaceDoesNot() throws {
        let s = try Site(lobbyPhotos: [fixture("obama2.jpg"), fixture("obama3.jpg")],
                         script: "  - {at: 0.5, door: server-room, badge: \"12:1001\"}\n  - {at: 4.0, door: server-room, contact: open}\n  - {at: 4.5, door: server-room, contact: closed}")
        try enrollObama(s)
        let r = try s.run(untilDecisions: 2)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("2 of 2 doors up"))
        let ev = try s.events()
        let decisions = ev.filter { $0.kind == .decision }
        let lobby = decisions.filter { $0.door == "lobby" }
        #expect(lobby.first?.type == "access.granted" && lobby.first?.personName == "Barack Obama")
        #expect((lobby.first?.face?.frames ?? 0) >= 3)
        // The server room wants badge+face and has no camera: the badge window closes.
        // (The lobby's looping camera may grant again at any time: the run ends at two
        // decisions only once the script has played, and the door opens 2.5 s after the
        // server room's window has closed, so its decision is always one of those counted.)
        let srv = decisions.filter { $0.door == "server-room" }
        #expect(srv.first?.reasons == ["factor_missing:face"], "\(r.stdout)")
        #expect(ev.contains { $0.type == "door.released" && $0.door == "lobby" })
        #expect(ev.contains { $0.type == "door.forced_open" && $0.door == "server-room" })
        #expect(ev.contains { $0.type == "system.start" } && ev.last?.type == "system.stop")
        #expect(try s.w("audit", "verify").status == 0)
    }

    /// A grant made with `warden grant` (not in the policy files) opens the door under
    /// `warden run`, as `policy explain` says it does. It did not: run decided on the files'
    /// grants alone (found by the fleet demo, whose grants all come from the server).
    @Test func aGrantMadeFromTheCLIOpensTheDoor() throws {
        let s = try Site(lobbyPhotos: [fixture("obama2.jpg"), fixture("obama3.jpg")])
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        #expect(try s.w("enroll", "P1", fixture("obama.jpg")).status == 0)
        let policy = s.dir.appendingPathComponent("policy").path
        let explainBefore = try s.w("policy", "explain", "--person", "P1", "--door", "lobby", "--policy", policy)
        #expect(explainBefore.stdout.contains("no_grant"), "\(explainBefore.stdout)")
        #expect(try s.w("grant", "P1", "office", "--policy", policy).status == 0)
        let r = try s.run(untilDecisions: 1)
        #expect(r.status == 0, "\(r.stderr)")
        let lobby = try s.events().filter { $0.kind == .decision && $0.door == "lobby" }
        #expect(lobby.first?.type == "access.granted", "\(lobby.first?.reasons ?? [])")
    }

    @Test func aStrangerIsDeniedAndSIGTERMStopsCleanly() throws {
        // Two different frames of the stranger (identical frames would read as a frozen feed).
        let rescaled = try Self.rescaled(fixture("biden.jpg"))
        defer { try? FileManager.default.removeItem(atPath: rescaled) }
        let s = try Site(lobbyPhotos: [fixture("biden.jpg"), rescaled])
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
        // A door the policy or the pin map lacks is named with the doors they do have.
        try "policy: policy\npinmap: \(CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)\ngpio: simulated\ndoors:\n  attic: {}\n"
            .write(to: s.dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        let attic = try s.w("run", "--site", s.siteFile, "--duration", "1")
        #expect(attic.status == 2 && attic.stderr.contains("door 'attic' is not in the policy; its doors: lobby, server-room"), "\(attic.stderr)")
        #expect(attic.stderr.contains("door 'attic' has no wiring in") && attic.stderr.contains("its doors: "), "\(attic.stderr)")
    }

    /// Thresholds calibrated through a head that has since gone: matching in the raw space
    /// with them would be wrong, so the controller does not start.
    @Test func aMissingMetricHeadStopsStartBeforeAnyDoorIsTouched() throws {
        let s = try Site(lobbyPhotos: [fixture("obama.jpg")])
        try FileManager.default.createDirectory(at: s.home.url, withIntermediateDirectories: true)
        try "verify: 0.62\nmetric_head: {file: /nonexistent/head.json, sha256: abc}\n"
            .write(to: s.home.url.appendingPathComponent("matching.yaml"), atomically: true, encoding: .utf8)
        let r = try s.run(untilDecisions: 1)
        #expect(r.status == 2)
        #expect(r.stderr.contains("no door was touched") && r.stderr.contains("metric head /nonexistent/head.json") && r.stderr.contains("cannot be read"), "\(r.stderr)")
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
        #expect(try known.run(untilDecisions: 1).status == 0)
        #expect(try known.events().contains { $0.type == "access.granted" && $0.personName == "Denzel Washington" })

        let stranger = try RunCommandTests.Site(lobbyPhotos: Array(leo[0...2]))
        #expect(try stranger.w("person", "add", "Denzel Washington", "--external-id", "D1").status == 0)
        #expect(try stranger.w("enroll", "D1", denzel[0], "--largest").status == 0)
        #expect(try stranger.w("group", "add", "D1", "staff", "--policy", stranger.dir.appendingPathComponent("policy").path).status == 0)
        #expect(try stranger.run(untilDecisions: 1).status == 0)
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
        #expect(run.waitFor("1 template reloaded"))
        #expect(run.waitFor("GRANTED #1 Barack Obama"))
        #expect(run.stop() == 0)
    }
}

/// Badge plus face through the `warden run` process: the badge is clocked onto the
/// simulated reader and the server-room camera plays photos of whoever stands there.
@Suite("warden run: badge plus face", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct RunBadgeFaceTests {
    /// Photos of two people: from ../shared/faces when present, else the fixtures.
    func people() throws -> (a: [String], b: [String]) {
        if CLI.haveSharedFaces {
            func photos(_ who: String) throws -> [String] {
                let d = CLI.sharedFaces.appendingPathComponent(who)
                return try FileManager.default.contentsOfDirectory(atPath: d.path).sorted().map { d.appendingPathComponent($0).path }
            }
            return (try photos("Hugh_Jackman"), try photos("Jennifer_Lawrence"))
        }
        let f = { (n: String) in CLI.fixtures.appendingPathComponent(n).path }
        return ([f("obama.jpg"), f("obama2.jpg"), f("obama3.jpg")], [f("biden.jpg")])
    }

    func enroll(_ s: RunCommandTests.Site, _ name: String, _ id: String, photo: String, badge: String) throws {
        #expect(try s.w("person", "add", name, "--external-id", id).status == 0)
        #expect(try s.w("enroll", id, photo, "--largest").status == 0)
        #expect(try s.w("group", "add", id, "staff", "--policy", s.dir.appendingPathComponent("policy").path).status == 0)
        #expect(try s.w("badge", "issue", id, badge).status == 0)
    }


    @Test func theRightFaceOpensAndTheWrongFaceDoesNot() throws {
        let (a, b) = try people()
        let holderPhotos = a.count > 1 ? Array(a.dropFirst().prefix(3)) : a
        let right = try RunCommandTests.Site(lobbyPhotos: [], script: "  - {at: 0.3, door: server-room, badge: \"12:1001\"}",
                                             serverRoomPhotos: holderPhotos)
        try enroll(right, "Holder", "A1", photo: a[0], badge: "12:1001")
        #expect(try right.run(untilDecisions: 1).status == 0)
        let granted = try right.events().filter { $0.kind == .decision }
        #expect(granted.first?.type == "access.granted" && granted.first?.factors?.map(\.factor) == ["badge", "face"])
        #expect(try right.events().contains { $0.type == "door.released" && $0.door == "server-room" })

        let wrong = try RunCommandTests.Site(lobbyPhotos: [], script: "  - {at: 0.3, door: server-room, badge: \"12:1001\"}",
                                             serverRoomPhotos: b.count > 1 ? Array(b.prefix(3)) : b + [try RunCommandTests.rescaled(b[0])])
        try enroll(wrong, "Holder", "A1", photo: a[0], badge: "12:1001")
        #expect(try wrong.run(untilDecisions: 1).status == 0)
        let denied = try wrong.events().filter { $0.kind == .decision }
        #expect(denied.first?.type == "access.denied")
        #expect(denied.first.map { $0.reasons == ["face_mismatch"] || $0.reasons == ["factor_missing:face"] } == true)
        #expect(try !wrong.events().contains { $0.type == "door.released" })
    }

    /// Each frame shows both people side by side, so whichever badge is read, its holder
    /// is in view; the second badge is read half a second after the first decision. The
    /// outcome is then the same however long recognition takes.
    @Test func twoPeopleReleaseTheTwoPersonDoor() throws {
        let (a, b) = try people()
        guard a.count > 1 else { return }
        let pairs = try (0..<3).map { i in try sideBySide(a[1 + i % (a.count - 1)], b[b.count > 1 ? 1 + i % (b.count - 1) : 0]) }
        defer { for p in pairs { try? FileManager.default.removeItem(atPath: p) } }
        let s = try RunCommandTests.Site(lobbyPhotos: [], script: "  - {at: 0.3, door: server-room, badge: \"12:1001\"}\n  - {after_decisions: 1, at: 0.5, door: server-room, badge: \"12:2002\"}",
                                         serverRoomPhotos: pairs, twoPerson: true)
        try enroll(s, "First", "A1", photo: a[0], badge: "12:1001")
        try enroll(s, "Second", "B1", photo: b[0], badge: "12:2002")
        #expect(try s.run(untilDecisions: 2).status == 0)
        let d = try s.events().filter { $0.kind == .decision }
        #expect(d.map { $0.reasons ?? [] } == [["two_person_pending"], ["two_person_complete"]])
        #expect(try s.events().filter { $0.type == "door.released" && $0.door == "server-room" }.count == 1)
    }

    /// Two photos scaled to one height and joined left to right, as a PPM in a temp file.
    func sideBySide(_ left: String, _ right: String) throws -> String {
        let h = 360
        let l = try RGBImage(contentsOf: left), r = try RGBImage(contentsOf: right)
        let a = l.resized(width: l.width * h / l.height, height: h), b = r.resized(width: r.width * h / r.height, height: h)
        var pixels = [UInt8](); pixels.reserveCapacity((a.width + b.width) * h * 3)
        for y in 0..<h {
            pixels += a.pixels[(y * a.width * 3)..<((y + 1) * a.width * 3)]
            pixels += b.pixels[(y * b.width * 3)..<((y + 1) * b.width * 3)]
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pair-\(UUID()).ppm")
        try Data(RGBImage(width: a.width + b.width, height: h, pixels: pixels).ppmData()).write(to: out)
        return out.path
    }
}

@Suite("warden run: MQTT", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct RunMQTTTests {
    /// `warden run` with an `mqtt:` section publishes its decisions to a real broker; with
    /// the broker gone, the doors decide just the same and the loss is in the log.
    @Test(.enabled(if: PrivateBroker.available, "needs Debian's mosquitto (make setup installs it)"))
    func decisionsReachTheBrokerAndADeadBrokerCostsNoDoor() async throws {
        let broker = try PrivateBroker()
        defer { broker.destroy() }
        let base = RunCommandTests()
        // The closed contact changes nothing: it keeps the rehearsal going past the badge's
        // denial, so two grants at the lobby's looping camera cannot end it first.
        let s = try RunCommandTests.Site(lobbyPhotos: [base.fixture("obama2.jpg"), base.fixture("obama3.jpg")], script: "  - {at: 0.5, door: server-room, badge: \"12:9999\"}\n  - {at: 2.0, door: server-room, contact: closed}",
                         siteExtra: "mqtt: {host: 127.0.0.1, port: \(broker.port), client_id: warden-run-test}")
        try base.enrollObama(s)
        let sub = try ChildProcess.start(["/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", String(broker.port), "-t", "warden/test_site/#", "-v", "-W", "300"])
        try await Task.sleep(for: .milliseconds(500))
        let r = try s.run(untilDecisions: 2)
        #expect(r.status == 0, "\(r.stderr)")
        try await Task.sleep(for: .milliseconds(500))
        sub.kill(SIGINT)
        let lines = sub.wait().stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("warden/test_site/status/warden-run-test online"), "\(lines.prefix(5))")
        #expect(lines.contains { $0.hasPrefix("warden/test_site/door/lobby/decision ") && $0.contains("\"result\":\"granted\"") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("warden/test_site/door/server-room/decision ") && $0.contains("\"result\":\"denied\"") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("warden/test_site/event ") && $0.contains("system.start") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("warden/test_site/door/lobby/lock ") }, "\(lines)")
        #expect(!lines.contains { $0.contains("Barack") }, "names stay in the audit log by default")

        broker.kill()
        let before = try s.events().filter { $0.kind == .decision }.count
        let dead = try s.run(untilDecisions: 2)
        #expect(dead.status == 0, "\(dead.stderr)")
        let ev = try s.events()
        #expect(ev.filter { $0.kind == .decision }.count >= before + 2, "the doors decided with the broker gone")
        #expect(ev.contains { $0.type == "integration.mqtt_lost" && ($0.detail?["reason"] ?? "").contains("cannot connect") })
        #expect(try s.w("audit", "verify").status == 0)
    }

    /// Remote commands enabled for the server room over TLS with a password: a command on
    /// the lobby's (unlisted) topic is refused, a release is granted by the policy as the
    /// `remote` factor and pulses the strike, a lockdown holds the door (a release then
    /// refused), a retained command is refused, and the lockdown outlives a restart. Every
    /// step is in the audit log, with who asked.
    @Test(.enabled(if: PrivateBroker.available, "needs Debian's mosquitto (make setup installs it)"))
    func remoteCommandsGoThroughThePolicyAndAreAudited() async throws {
        let certs = try ThrowawayCertificates()
        defer { certs.destroy() }
        let broker = try PrivateBroker(users: ["warden": "door-secret-1", "ha": "ha-secret-2"],
                                       tls: .init(caFile: certs.ca, certFile: certs.server.cert, keyFile: certs.server.key, requireClientCertificate: false))
        defer { broker.destroy() }
        let s = try RunCommandTests.Site(lobbyPhotos: [], siteExtra: """
            mqtt:
              host: 127.0.0.1
              port: \(broker.port)
              client_id: warden-commands-test
              username: warden
              password_file: mqtt-password
              tls: {ca_file: \(certs.ca)}
              discovery: {enabled: false}
              commands: {enabled: true, doors: [server-room]}
            """, serverRoomPolicy: ", remote: {release: true, lockdown: true}")
        try "door-secret-1\n".write(to: s.dir.appendingPathComponent("mqtt-password"), atomically: true, encoding: .utf8)
        let ha = ("ha", "ha-secret-2")
        let topic = { (door: String) in "warden/test_site/door/\(door)/command" }
        func send(_ door: String, _ text: String, retain: Bool = false) throws { try broker.publish(topic(door), text, user: ha, caFile: certs.ca, retain: retain) }
        func waitForEvent(_ what: String, _ match: (AuditEvent) -> Bool) async throws -> AuditEvent? {
            for _ in 0..<600 {
                if let e = try s.events().first(where: match) { return e }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("\(what): not in the audit log within 60 s")
            return nil
        }

        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = s.home.path
        let bin = try #require(CLI.binary, "the warden executable was not built beside the tests").path
        let run = try ChildProcess.start([bin, "run", "--site", s.siteFile, "--duration", "300"], environment: env)
        _ = try await waitForEvent("the broker link") { $0.type == "integration.mqtt_connected" }
        // Sent until refused: the first refusal also says Warden's subscription is in place.
        var unlisted: AuditEvent? = nil
        for _ in 0..<100 where unlisted == nil {
            try send("lobby", "UNLOCK")
            try await Task.sleep(for: .milliseconds(300))
            unlisted = try s.events().first { $0.type == "integration.command_refused" && $0.door == "lobby" }
        }
        #expect(unlisted?.detail?["reason"]?.contains("not listed in mqtt.commands.doors") == true, "\(String(describing: unlisted))")

        try send("server-room", "{\"command\": \"release\", \"requested_by\": \"ana@ha\"}")
        let granted = try await waitForEvent("the remote release") { $0.type == "access.granted" && $0.door == "server-room" }
        #expect(granted?.factors == [FactorResult(factor: "remote", ok: true, detail: "ana@ha")])
        #expect(granted?.rule == "remote:server-room" && granted?.reasons == ["remote_release"] && granted?.operator == "mqtt:ana@ha")
        #expect(granted?.detail?["topic"] == topic("server-room"))
        _ = try await waitForEvent("the strike pulsed") { $0.type == "door.released" && $0.door == "server-room" }

        try send("server-room", "LOCKDOWN")
        let down = try await waitForEvent("the lockdown") { $0.type == "admin.door_lockdown" }
        #expect(down?.door == "server-room" && down?.operator == "mqtt:unnamed client")
        try send("server-room", "UNLOCK")
        let refused = try await waitForEvent("a release refused in lockdown") { $0.type == "access.denied" && $0.door == "server-room" }
        #expect(refused?.reasons == ["lockdown"], "\(String(describing: refused))")
        // Sent retained: the broker hands it on now as a live message (refused here by the
        // lockdown), and keeps a copy for every later subscriber, flagged retained.
        try send("server-room", "UNLOCK", retain: true)

        run.kill(SIGTERM)
        let first = run.wait()
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try String(contentsOfFile: s.home.path + "/door-modes.json", encoding: .utf8).contains("\"server-room\":\"locked\""))
        let before = try s.events().count
        // Started again: the lockdown is in force before any command, and the broker's
        // stored copy of the command, handed over on the new subscription, is refused.
        let again = try ChildProcess.start([bin, "run", "--site", s.siteFile, "--duration", "300"], environment: env)
        let retained = try await waitForEvent("the retained command") { $0.type == "integration.command_refused" && $0.door == "server-room" }
        #expect(retained?.detail?["reason"]?.contains("retained") == true, "\(String(describing: retained))")
        _ = try await waitForEvent("the second start") { $0.type == "system.start" && $0.seq > Int64(before) }
        again.kill(SIGTERM)
        let second = again.wait()
        #expect(second.status == 0, "\(second.stderr)")
        let later = try s.events().dropFirst(before)
        #expect(!later.contains { $0.type == "access.granted" }, "the stored copy released nothing")
        #expect(later.contains { $0.type == "system.door_mode_restored" && $0.door == "server-room" && $0.detail?["mode"] == "locked" })
        #expect(later.contains { $0.type == "door.mode_changed" && $0.door == "server-room" && ($0.detail?["detail"] ?? "").contains("locked") },
                "\(later.map(\.type))")
        #expect(try s.w("audit", "verify").status == 0)
    }
}
