import FaceKit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Matching
import OpenCVFaces
import Testing
import WardenCore

/// The admin CLI's read commands and the thresholds against the server: the `warden`
/// binary with WARDEN_SERVER, answering from the server's policy, groups and grants with the
/// same output a board's own home gives for the same files.
@Suite(.serialized) struct FleetAdminCLITests {
    static let example = FleetBoardProcessTests.root.appendingPathComponent("policies/example").path

    /// `warden` on a home of its own, with no server: the single-board answer.
    func local(_ args: [String], home: String) async throws -> Spawn.Result {
        let bin = try #require(FleetBoardProcessTests.warden, "the warden executable was not built beside the tests")
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home
        env.removeValue(forKey: "WARDEN_SERVER")
        return try await Spawn.output([bin] + args, environment: env)
    }

    func operators(_ h: FleetHarness) async throws -> (admin: String, enroller: String, auditor: String) {
        try await h.central { store in
            (try await store.addOperator("ana", role: .admin, by: Operator("test-admin")),
             try await store.addOperator("eve", role: .enroller, by: Operator("test-admin")),
             try await store.addOperator("aud", role: .auditor, by: Operator("test-admin")))
        }
    }

    @Test func theSiteReadCommandsAnswerAtTheServerAsOnABoard() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let ops = try await operators(h)
        let none = try await h.adminCLI(["zone", "list"], token: ops.auditor)
        #expect(none.status != 0 && none.stderr.contains("has no policy yet"), "\(none.stderr)")
        #expect(try await h.adminCLI(["policy", "publish", Self.example], token: ops.admin).status == 0)

        // The same files give the same answers, at the server and on a home of its own.
        let own = h.root + "/own"
        for args in [["zone", "list", "--json"], ["door", "list", "--json"]] {
            let remote = try await h.adminCLI(args, token: ops.auditor), mine = try await local(args + ["--policy", Self.example], home: own)
            #expect(remote.status == 0 && mine.status == 0, "\(args): \(remote.stderr) \(mine.stderr)")
            #expect(remote.stdout == mine.stdout && remote.stdout.contains("server-room"), "\(args)")
        }
        let check = try await h.adminCLI(["policy", "check"], token: ops.auditor)
        #expect(check.status == 0 && check.stdout.contains("OK: \(h.url) (policy version") && check.stdout.contains("4 doors"), "\(check.stdout) \(check.stderr)")
        let both = try await h.adminCLI(["zone", "list", "--policy", Self.example], token: ops.auditor)
        #expect(both.status != 0 && both.stderr.contains("give one or the other"), "\(both.stderr)")

        #expect(try await h.adminCLI(["person", "add", "Grace Hopper", "--external-id", "G1"], token: ops.enroller).status == 0)
        #expect(try await h.adminCLI(["badge", "issue", "G1", "12:4242"], token: ops.enroller).status == 0)
        let show = try await h.adminCLI(["person", "show", "Grace Hopper", "--json"], token: ops.auditor)
        #expect(show.status == 0 && show.stdout.contains("12:4242") && show.stdout.contains("\"templates\" : [") && show.stdout.contains("G1"), "\(show.stderr)")
        let human = try await h.adminCLI(["person", "show", "G1"], token: ops.auditor)
        #expect(human.status == 0 && human.stdout.contains("Grace Hopper [G1]") && human.stdout.contains("templates: 0"), "\(human.stdout)")
        let nobody = try await h.adminCLI(["person", "show", "Nobody Here"], token: ops.auditor)
        #expect(nobody.status != 0 && nobody.stderr.contains("no person 'Nobody Here'"), "\(nobody.stderr)")

        // Groups: made at the server, an enroller may not; listed with the files' groups.
        let refused = try await h.adminCLI(["group", "create", "night-shift"], token: ops.enroller)
        #expect(refused.status != 0 && refused.stderr.contains("enroller"), "\(refused.stderr)")
        #expect(try await h.adminCLI(["group", "create", "night-shift"], token: ops.admin).status == 0)
        let again = try await h.adminCLI(["group", "create", "night-shift"], token: ops.admin)
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again.stderr)")

        let at = ["--door", "server-room", "--at", "2026-12-02 10:00", "--factors", "badge,face", "--json"]
        let before = try await h.adminCLI(["policy", "explain", "--person", "Grace Hopper"] + at, token: ops.auditor)
        #expect(before.status == 0 && before.stdout.contains("\"allow\" : false"), "\(before.stdout) \(before.stderr)")
        #expect(try await h.adminCLI(["group", "add", "G1", "it-admins"], token: ops.admin).status == 0)
        let after = try await h.adminCLI(["policy", "explain", "--person", "Grace Hopper"] + at, token: ops.auditor)
        #expect(after.status == 0 && after.stdout.contains("\"allow\" : true") && after.stdout.contains("admins-server-room"), "\(after.stdout) \(after.stderr)")

        let groups = try await h.adminCLI(["group", "list"], token: ops.auditor)
        #expect(groups.status == 0, "\(groups.stderr)")
        #expect(groups.stdout.contains("night-shift") && groups.stdout.contains("(database only)"), "\(groups.stdout)")
        #expect(groups.stdout.split(separator: "\n").contains { $0.hasPrefix("it-admins") && $0.contains("1 member: #1") }, "\(groups.stdout)")

        // A CLI grant at the server is listed with the files' grants and decides explain.
        #expect(try await h.adminCLI(["grant", "add", "G1", "office-floor", "--until", "2027-01-31"], token: ops.admin).status == 0)
        let grants = try await h.adminCLI(["grant", "list", "--json"], token: ops.auditor)
        #expect(grants.status == 0 && grants.stdout.contains("\"grant-1\"") && grants.stdout.contains("staff-building"), "\(grants.stderr)")
        #expect(try await h.adminCLI(["group", "remove", "G1", "it-admins"], token: ops.admin).status == 0)
        let office = try await h.adminCLI(["policy", "explain", "--person", "G1", "--door", "office", "--at", "2026-12-02 10:00", "--factors", "badge", "--json"], token: ops.auditor)
        #expect(office.status == 0 && office.stdout.contains("\"allow\" : true") && office.stdout.contains("grant-1"), "\(office.stdout) \(office.stderr)")
        await h.destroy()
    }

    /// `warden thresholds publish` sends a calibrated matching.yaml; every board takes it, and
    /// a file a board could not use is refused at the CLI and again at the server.
    @Test func publishedThresholdsReachEveryBoard() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("hall")
        let ops = try await operators(h)
        let unset = try await h.adminCLI(["thresholds", "show"], token: ops.auditor)
        #expect(unset.status == 0 && unset.stdout.contains("none published"), "\(unset.stdout) \(unset.stderr)")

        let file = h.root + "/matching.yaml"
        var calibrated = ThresholdsFile(MatchThresholds(verify: 0.38, identifyCeiling: 0.37), calibration: nil, head: nil)
        try calibrated.text().write(toFile: file, atomically: true, encoding: .utf8)
        let enroller = try await h.adminCLI(["thresholds", "publish", file], token: ops.enroller)
        #expect(enroller.status != 0 && enroller.stderr.contains("enroller"), "\(enroller.stderr)")
        let published = try await h.adminCLI(["thresholds", "publish", file, "--json"], token: ops.admin)
        #expect(published.status == 0 && published.stdout.contains("\"version\""), "\(published.stderr)")

        while try await board.agent.syncOnce() > 0 {}
        let onBoard = try String(contentsOfFile: board.home + "/matching.yaml", encoding: .utf8)
        #expect(try ThresholdsFile.parse(onBoard, source: "board").thresholds(source: "board").verify == 0.38)
        let boardSays = try await local(["thresholds", "show", "--json"], home: board.home)
        #expect(boardSays.status == 0 && boardSays.stdout.contains("\"verify\" : 0.38"), "\(boardSays.stdout) \(boardSays.stderr)")
        let serverSays = try await h.adminCLI(["thresholds", "show"], token: ops.auditor)
        #expect(serverSays.status == 0 && serverSays.stdout.contains("version 1 by ana") && serverSays.stdout.contains("0.3800"), "\(serverSays.stdout)")

        // Refused at the CLI: loose enough to let strangers in, or naming a head the fleet does not carry.
        calibrated.verify = 0.7
        try calibrated.text().write(toFile: file, atomically: true, encoding: .utf8)
        let loose = try await h.adminCLI(["thresholds", "publish", file], token: ops.admin)
        #expect(loose.status != 0 && loose.stderr.contains("impostors' mean"), "\(loose.stderr)")
        calibrated.verify = 0.39
        calibrated.metric_head = .init(file: "/var/lib/warden/heads/h.json", sha256: String(repeating: "0", count: 64))
        try calibrated.text().write(toFile: file, atomically: true, encoding: .utf8)
        let head = try await h.adminCLI(["thresholds", "publish", file], token: ops.admin)
        #expect(head.status != 0 && head.stderr.contains("metric head"), "\(head.stderr)")

        // And at the server, for a client that skips the CLI's check.
        let ca = try h.serverHome.siteCA().pem.certificatePEM
        let raw = try HTTPSFleetTransport(server: h.url, identity: nil, trustedCA: ca, headers: [("authorization", "Bearer \(ops.admin)")])
        for files in [["matching.yaml": "verify: 1.5\n"], ["matching.yaml": try calibrated.text()], ["other.yaml": "verify: 0.3\n"]] {
            let refusal: String
            do {
                _ = try await raw.postJSON(AdminVersion.self, AdminPath.thresholds, AdminConfiguration(files: files))
                refusal = "stored"
            } catch { refusal = "\(error)" }
            #expect(refusal.contains("400") && refusal.contains("not published"), "\(files.keys): \(refusal)")
        }
        #expect(try await h.central { try await $0.currentConfiguration(.thresholds)?.version } == 1)
        await raw.shutdown()
        await h.destroy()
    }

    static let fixtures = FleetBoardProcessTests.root.appendingPathComponent("fixtures/test_images")
    static var haveFaces: Bool {
        FileManager.default.fileExists(atPath: fixtures.appendingPathComponent("obama2.jpg").path) && (try? ModelLocator().locate()) != nil
    }

    /// The server's duplicate-identity check at enrollment uses the thresholds the boards
    /// match with: published ones once there are any. obama.jpg and obama2.jpg are 0.251 apart.
    @Test(.enabled(if: haveFaces, "needs the models and fixtures from `make setup`"))
    func enrollmentAtTheServerChecksDuplicatesWithThePublishedThreshold() async throws {
        let h = try FleetHarness()
        try await h.startServer(enrollment: ServerEnrollment(engine: try FaceEngine(locator: ModelLocator())))
        let ops = try await operators(h)
        for (name, ext) in [("Barack One", "B1"), ("Barack Two", "B2")] {
            #expect(try await h.adminCLI(["person", "add", name, "--external-id", ext], token: ops.enroller).status == 0)
        }
        let first = try await h.adminCLI(["enroll", "B1", Self.fixtures.appendingPathComponent("obama.jpg").path], token: ops.enroller)
        #expect(first.status == 0, "\(first.stderr)")
        let second = Self.fixtures.appendingPathComponent("obama2.jpg").path
        let refused = try await h.adminCLI(["enroll", "B2", second], token: ops.enroller)
        #expect(refused.status != 0 && refused.stderr.contains("already matches") && refused.stderr.contains("threshold 0.41"), "\(refused.stderr)")

        let file = h.root + "/matching.yaml"
        try ThresholdsFile(MatchThresholds(verify: 0.2, identifyCeiling: 0.2), calibration: nil, head: nil).text().write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await h.adminCLI(["thresholds", "publish", file], token: ops.admin).status == 0)
        let accepted = try await h.adminCLI(["enroll", "B2", second], token: ops.enroller)
        #expect(accepted.status == 0, "\(accepted.stderr)")
        await h.destroy()
    }

    static var haveSecondModel: Bool {
        haveFaces && (try? InstalledSecondModel(locator: RecognitionModelLocator(faceModels: ModelLocator()))) != nil
    }

    /// With SFace installed beside dlib's models, a photo enrolled at the server becomes a
    /// template of each model in one change, and a board's replica receives both, each
    /// opened under its own model id.
    @Test(.enabled(if: haveSecondModel, "needs SFace and dlib's 68-point predictor from `make setup`"))
    func enrollmentAtTheServerStoresATemplateOfEachModelAndTheBoardsReceiveBoth() async throws {
        let h = try FleetHarness()
        let second = try InstalledSecondModel(locator: RecognitionModelLocator(faceModels: ModelLocator())).makeRecognizer()
        try await h.startServer(enrollment: ServerEnrollment(engine: try FaceEngine(locator: ModelLocator()), second: second))
        let ops = try await operators(h)
        #expect(try await h.adminCLI(["person", "add", "Barack Obama", "--external-id", "B1"], token: ops.enroller).status == 0)
        let r = try await h.adminCLI(["enroll", "B1", Self.fixtures.appendingPathComponent("obama.jpg").path, "--json"], token: ops.enroller)
        #expect(r.status == 0, "\(r.stderr)")
        struct Row: Decodable { let status: String; let templateID: Int64?; let secondModel: String? }
        let rows = try JSONDecoder().decode([Row].self, from: Data(r.stdout.utf8))
        #expect(rows.count == 1 && rows[0].status == "enrolled" && rows[0].secondModel == SFaceRecognizer.modelID, "\(r.stdout)")
        let human = try await h.adminCLI(["enroll", "B1", Self.fixtures.appendingPathComponent("obama2.jpg").path], token: ops.enroller)
        #expect(human.status == 0 && human.stdout.contains("and its \(SFaceRecognizer.modelID) template"), "\(human.stdout) \(human.stderr)")

        // Stored centrally as one model each, one audit event per photo naming both.
        let dlib = try await h.central { try await $0.allTemplates(modelID: ModelSet.recognitionModelID) }
        let sface = try await h.central { try await $0.allTemplates(modelID: SFaceRecognizer.modelID) }
        #expect(dlib.count == 2 && sface.count == 2)
        #expect(sface.allSatisfy { $0.embedding.modelID == SFaceRecognizer.modelID && $0.embedding.values.count == 128 })
        let enrolls = try await h.serverEvents().filter { $0.type == "admin.template_enroll" }
        #expect(enrolls.count == 2 && enrolls.allSatisfy { ($0.detail?["templates"] ?? "").split(separator: ",").count == 2 }, "\(enrolls.map(\.detail))")

        // A board's replica: both models' templates, readable.
        let board = try await h.joinedController("b1")
        _ = try await board.agent.syncOnce()
        let onBoard = try board.db.templates.forPerson(try #require(dlib.first?.personID))
        #expect(Set(onBoard.map(\.modelID)) == [ModelSet.recognitionModelID, SFaceRecognizer.modelID] && onBoard.count == 4)
        #expect(try board.db.templates.all(modelID: SFaceRecognizer.modelID).count == 2)
        await h.destroy()
    }
}
