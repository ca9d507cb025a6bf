import Audit
import FleetProtocol
@testable import FleetServer
import FaceKit
import Foundation
import OpenCVFaces
import Testing
import WardenCore

/// `warden enroll PERSON --camera DOOR` against the server: the board running the door
/// captures on its own camera (here an image folder of one person's photos) and models,
/// the server checks the templates against the whole fleet and stores them, and both
/// sides log it.
@Suite(.serialized) struct FleetCameraEnrollTests {
    static let faces = FleetBoardProcessTests.root.appendingPathComponent("../shared/faces").standardized
    static var ready: Bool {
        FleetAdminCLITests.haveFaces && FileManager.default.fileExists(atPath: faces.appendingPathComponent("Barack_Obama").path)
    }

    static var secondModelInstalled: Bool { (try? InstalledSecondModel(locator: RecognitionModelLocator(faceModels: ModelLocator()))) != nil }

    static let facePolicy = """
        site: {name: Gate, timezone: UTC}
        zones: [{id: yard}]
        doors:
          - {id: lobby, into: yard, factors: face, fail_mode: safe, strike_time: 2s}
        """

    /// The board's CLI, waited for on a thread of its own (the server runs in this process).
    static func board(_ args: [String], home: String) async throws -> Spawn.Result {
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        env.removeValue(forKey: "WARDEN_SERVER")
        return try await Spawn.output([try #require(FleetBoardProcessTests.warden)] + args, environment: env)
    }

    /// A board "gate" joined to `h` and running (`warden run`), its lobby's camera an image
    /// folder of one person's photos played in a loop; back once the server knows from its
    /// heartbeat that gate runs the lobby. The caller stops `run`.
    static func gateBoard(_ h: FleetHarness) async throws -> (home: String, run: Spawn.Running) {
        let home = h.root + "/gate"
        try FileManager.default.createDirectory(atPath: home + "/lobby-cam", withIntermediateDirectories: true)
        let folder = Self.faces.appendingPathComponent("Barack_Obama").path
        for (i, p) in try FileManager.default.contentsOfDirectory(atPath: folder).sorted().enumerated() {
            try FileManager.default.copyItem(atPath: folder + "/" + p, toPath: home + "/lobby-cam/" + String(format: "f%02d.jpg", i))
        }
        #expect(try await Self.board(["fleet", "join", h.url, "--token", try await h.token(for: "gate").description], home: home).status == 0)
        try await h.central { store in
            _ = try await store.putConfiguration(.policy, files: ["site.yaml": Self.facePolicy], by: Operator("test-admin"))
        }
        #expect(try await Self.board(["fleet", "sync"], home: home).status == 0)
        try """
        policy: \(home)/fleet/policy
        pinmap: \(FleetBoardProcessTests.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        gpio: simulated
        doors:
          lobby:
            camera: {images: \(home)/lobby-cam, fps: 8, loop: true}
        """.write(toFile: home + "/site.yaml", atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        env["WARDEN_PAD_MODELS"] = "/nonexistent"
        env.removeValue(forKey: "WARDEN_SERVER")
        let bin = try #require(FleetBoardProcessTests.warden)
        let run = try Spawn.start([bin, "run", "--site", home + "/site.yaml", "--duration", "300"], environment: env)
        // The server learns which board runs the lobby from its heartbeat, once the board has
        // loaded its models: up to three minutes on a loaded, slow machine (a wait, not a
        // timed assertion).
        for _ in 0..<1800 {
            if try await h.store?.controllers().first(where: { $0.name == "gate" })?.doors.contains(where: { $0.id == "lobby" }) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return (home, run)
    }

    @Test(.enabled(if: ready, "needs ../shared/faces and the models from `make setup`"))
    func aDoorOfTheFleetEnrollsThroughTheServer() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let ops = try await FleetAdminCLITests().operators(h)
        let (home, run) = try await Self.gateBoard(h)
        defer { run.kill(SIGTERM); _ = run.wait() }
        for (name, ext) in [("Barack Obama", "P1"), ("Someone Else", "P2")] {
            #expect(try await h.adminCLI(["person", "add", name, "--external-id", ext], token: ops.enroller).status == 0)
        }

        let nowhere = try await h.adminCLI(["enroll", "P1", "--camera", "garage"], token: ops.enroller)
        #expect(nowhere.status == 1 && nowhere.stderr.contains("no controller reports a door 'garage'"), "\(nowhere.stderr)")
        let auditor = try await h.adminCLI(["enroll", "P1", "--camera", "lobby"], token: ops.auditor)
        #expect(auditor.status == 1 && auditor.stderr.contains("may not"), "an auditor cannot enroll: \(auditor.stderr)")

        let r = try await h.adminCLI(["enroll", "P1", "--camera", "lobby", "--seconds", "20", "--json"], token: ops.enroller)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        struct Outcome: Decodable {
            struct T: Decodable { let templateID: Int64; let pose: String }
            let status: String; let templates: [T]; let source: String; let liveness: String; let secondModel: String?; let secondTemplateIDs: [Int64]?
        }
        let o = try? JSONDecoder().decode(Outcome.self, from: Data(r.stdout.utf8))
        #expect(o?.status == "enrolled" && (o?.templates.count ?? 0) >= 2 && o?.source == "door lobby of controller gate", "\(r.stdout)")
        #expect(o?.liveness == "not_checked")
        let stored = try await h.central { try await $0.personDetail("P1").templates }
        let reported = (o?.templates.map(\.templateID) ?? []) + (o?.secondTemplateIDs ?? [])
        #expect(Set(stored.map(\.id)) == Set(reported), "the server stored exactly the templates reported")
        // The board has SFace (make setup): each chosen face comes back as a template of each model.
        if Self.secondModelInstalled {
            #expect(o?.secondModel == SFaceRecognizer.modelID && o?.secondTemplateIDs?.count == o?.templates.count, "\(r.stdout)")
            #expect(Set(stored.map(\.modelID)) == [ModelSet.recognitionModelID, SFaceRecognizer.modelID])
        }
        #expect(stored.allSatisfy { $0.sourceName.hasPrefix("camera door lobby at controller gate, frame ") && $0.createdBy == "eve" }, "\(stored.map(\.sourceName))")

        // The same face for someone else: the fleet-wide duplicate check refuses it, and nothing is stored.
        let twin = try await h.adminCLI(["enroll", "P2", "--camera", "lobby", "--seconds", "20"], token: ops.enroller)
        #expect(twin.status == 1 && twin.stderr.contains("already matches") && twin.stderr.contains("Barack Obama"), "\(twin.stderr)")
        #expect(try await h.central { try await $0.personDetail("P2").templates }.isEmpty)

        // The board logged both captures with what the server made of them; they reach the central log too.
        run.kill(SIGTERM)
        #expect(run.wait().status == 0)
        var captures: [AuditEvent] = []
        try AuditStore(home: home, readOnly: true).forEachRow { _, e in if e.type == "admin.enroll_capture" { captures.append(e) } }
        #expect(captures.map { $0.detail?["server"] } == ["enrolled", "refused"], "\(captures.map { $0.detail ?? [:] })")
        #expect(captures.allSatisfy { $0.operator == "eve" && $0.detail?["door"] == "lobby" })
        #expect(try await Self.board(["fleet", "sync"], home: home).status == 0)
        let central = try await h.central { store in
            var types: [String] = []
            try await store.forEachEvent(controller: "gate") { _, row in types.append(try AuditChain.event(of: row).type) }
            return types
        }
        #expect(central.filter { $0 == "admin.enroll_capture" }.count == 2)
        await h.destroy()
    }

    /// Jobs on a manual clock: one at a time per controller, answered only by the board
    /// they were given to, and ended as failed, saying who went quiet, when nobody answers.
    @Test func captureJobsAreOnePerControllerOwnedAndExpire() async throws {
        final class Clock: @unchecked Sendable { var now = Date(timeIntervalSince1970: 1_800_000_000) }
        let clock = Clock()
        let relay = CaptureRelay(now: { clock.now })
        func job(_ id: String, door: String) -> CaptureJob {
            CaptureJob(id: id, door: door, personID: 1, personName: "P", seconds: 6, templates: 5, requestedBy: "eve", requestedAt: clock.now)
        }
        _ = try await relay.start(job("a", door: "lobby"), controller: "gate", requestedBy: Operator("eve"), force: false)
        await #expect(throws: CentralError.self) { try await relay.start(job("b", door: "dock"), controller: "gate", requestedBy: Operator("ana"), force: false) }
        #expect(await relay.take(controller: "other") == nil)
        #expect(await relay.take(controller: "gate")?.id == "a")
        #expect(await relay.take(controller: "gate") == nil, "a job is taken once")
        await #expect(throws: CentralError.self) { try await relay.answering("a", from: "other") }
        _ = try await relay.answering("a", from: "gate")
        // Taken and never answered: failed after its seconds and the margin.
        clock.now += 6 + CaptureRelay.resultMargin + 1
        let late = try await relay.status("a")
        #expect(late.state == .failed && (late.reason ?? "").contains("sent no result"), "\(late)")
        await #expect(throws: CentralError.self) { try await relay.answering("a", from: "gate") }
        // Never taken: failed after the limit, and the controller is free again.
        _ = try await relay.start(job("c", door: "lobby"), controller: "gate", requestedBy: Operator("eve"), force: false)
        clock.now += CaptureRelay.untakenLimit + 1
        let untaken = try await relay.status("c")
        #expect(untaken.state == .failed && (untaken.reason ?? "").contains("did not take the capture"), "\(untaken)")
        #expect(untaken.version > 1)
        // Finished jobs are forgotten after a while.
        clock.now += CaptureRelay.keptFor + 1
        await #expect(throws: CentralError.self) { try await relay.status("a") }
    }
}
