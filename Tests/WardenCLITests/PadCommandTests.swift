import Audit
import Foundation
import PresentationAttack
import Testing
import WardenTestSupport

enum PADFiles {
    static let models = TestCheckout.sharedModels.path
    static func sample(_ n: String) -> String { TestCheckout.padSample(n) }
    static var present: Bool { TestCheckout.havePAD(models: PADModelFile.pair.map(\.rawValue)) }
}

/// `warden pad` and liveness under `warden run`, through the binary.
@Suite("warden pad and liveness", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct PadCommandTests {
    let empty = FileManager.default.temporaryDirectory.appendingPathComponent("warden-no-pad-\(UUID())").path

    @Test func missingModelsAreNamedWithSourceAndSum() throws {
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let r = try CLI.run(["pad", "models"], environment: ["WARDEN_PAD_MODELS": empty])
        #expect(r.status == 1)
        #expect(r.stdout.contains("minifasnet_v2_2.7_80x80.onnx: NOT INSTALLED") && r.stdout.contains("2297bf55fe379f5c341fb3dc8c45b1f7d4f2be4a1975eaa2350639338b13744c"))
        #expect(r.stdout.contains("Silent-Face-Anti-Spoofing"))
        let check = try CLI.run(["pad", "check", CLI.fixtures.appendingPathComponent("obama.jpg").path], environment: ["WARDEN_PAD_MODELS": empty])
        #expect(check.status != 0 && check.stderr.contains("minifasnet_v2_2.7_80x80.onnx") && check.stderr.contains("Expected SHA-256"))
    }

    struct CheckResult: Decodable { struct F: Decodable { let live: Bool; let bonaFide: Double }; let path: String; let faces: [F]? }

    @Test(.enabled(if: PADFiles.present, "needs ../shared/models and ../shared/pad; absent here, so skipped"))
    func checkCallsThePrintAndTheScreenAttacks() throws {
        let r = try CLI.run(["pad", "check", "--json", PADFiles.sample("image_F1.jpg"), PADFiles.sample("image_F2.jpg"), PADFiles.sample("image_T1.jpg")],
                            environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(r.status == 0, "\(r.stderr)")
        let results = try JSONDecoder().decode([CheckResult].self, from: Data(r.stdout.utf8))
        #expect(results.map { $0.faces?.first?.live } == [false, false, true])
    }

    /// A corrupt image among the inputs is reported by name and the rest still scored.
    @Test(.enabled(if: PADFiles.present, "needs ../shared/models and ../shared/pad; absent here, so skipped"))
    func aCorruptImageIsAClearErrorNotACrash() throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bad-\(UUID()).jpg").path
        try Data([0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10, 0x45, 0x78, 0x69, 0x66, 0, 0, 0x4D, 0x4D, 0, 42]).write(to: URL(fileURLWithPath: bad))
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let r = try CLI.run(["pad", "check", bad, PADFiles.sample("image_T1.jpg")], environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(r.status == 1 && r.stderr.contains(bad) && r.stdout.contains("bona fide"))
    }

    struct EvalReport: Decodable {
        struct Rate: Decodable { let name: String; let madeUp: Bool; let samples: Int; let errors: Int }
        let bpcerPhotos: Rate?; let apcer: [Rate]; let threshold: Double
        var bpcerVideoFrames: Rate? = nil; var bpcerVideoTracks: Rate? = nil
    }

    /// The live clip, decoded by ffmpeg: every frame with a face, and every track of three,
    /// passes at the threshold in force.
    @Test(.enabled(if: PADFiles.present, "needs ../shared/models and ../shared/pad; absent here, so skipped"))
    func theLiveClipsFacesPass() throws {
        let r = try CLI.run(["pad", "eval", "--json", "--bona-fide-video", PADFiles.sample("short_hamilton_clip.mp4")],
                            environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(EvalReport.self, from: Data(r.stdout.utf8))
        let frames = try #require(report.bpcerVideoFrames), tracks = try #require(report.bpcerVideoTracks)
        #expect(frames.samples >= 150 && frames.errors == 0, "\(frames.errors) of \(frames.samples) live frames refused")
        #expect(tracks.samples >= 50 && tracks.errors == 0)
    }

    @Test(.enabled(if: PADFiles.present, "needs ../shared/models and ../shared/pad; absent here, so skipped"))
    func evalReportsAPCERPerSpeciesAndBPCER() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-pad-eval-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (sub, file) in [("live", "image_T1.jpg"), ("print", "image_F1.jpg"), ("screen", "image_F2.jpg")] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: PADFiles.sample(file), toPath: dir.appendingPathComponent("\(sub)/\(file)").path)
        }
        let r = try CLI.run(["pad", "eval", "--json", "--bona-fide", dir.appendingPathComponent("live").path,
                             "--attack", "print=" + dir.appendingPathComponent("print").path, "--attack", "screen=" + dir.appendingPathComponent("screen").path,
                             "--made-up", "1", "--plot", dir.appendingPathComponent("plot").path],
                            environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(EvalReport.self, from: Data(r.stdout.utf8))
        #expect(report.bpcerPhotos?.samples == 1 && report.bpcerPhotos?.errors == 0)
        #expect(report.apcer.first { $0.name == "print" }.map { $0.samples == 1 && $0.errors == 0 && !$0.madeUp } == true)
        #expect(report.apcer.first { $0.name == "screen" }.map { $0.samples == 1 && $0.errors == 0 } == true)
        #expect(report.apcer.filter(\.madeUp).map(\.name).sorted() == ["made-up-flat-sheet", "made-up-print", "made-up-screen"])
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("plot/pad-det.svg").path))
    }

    /// `warden run` with liveness required and no PAD model: it starts, logs the outage with
    /// the missing file, keeps the face factor out of service, and never opens the door.
    @Test func runWithoutModelsKeepsTheFaceFactorOutOfService() throws {
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let s = try RunCommandTests.Site(lobbyPhotos: [CLI.fixtures.appendingPathComponent("obama2.jpg").path, CLI.fixtures.appendingPathComponent("obama3.jpg").path],
                                         lobbyLiveness: true)
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        #expect(try s.w("enroll", "P1", CLI.fixtures.appendingPathComponent("obama.jpg").path).status == 0)
        #expect(try s.w("group", "add", "P1", "staff", "--policy", s.dir.appendingPathComponent("policy").path).status == 0)
        let r = try CLI.run(["run", "--site", s.siteFile, "--duration", "4"], home: s.home, environment: ["WARDEN_PAD_MODELS": empty])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("liveness") && r.stderr.contains("minifasnet_v2_2.7_80x80.onnx"))
        let ev = try s.events()
        let outage = try #require(ev.first { $0.type == "system.liveness_unavailable" && $0.door == "lobby" })
        #expect(outage.detail?["reason"]?.contains("2297bf55") == true)
        #expect(!ev.contains { $0.kind == .decision && $0.door == "lobby" })
        #expect(!ev.contains { $0.type == "door.released" && $0.door == "lobby" })
    }

    /// With the models: the same live photos open the door, the liveness evidence is in the
    /// audit event.
    @Test(.enabled(if: PADFiles.present, "needs ../shared/models and ../shared/pad; absent here, so skipped"))
    func runWithModelsAdmitsALiveFace() throws {
        let s = try RunCommandTests.Site(lobbyPhotos: [CLI.fixtures.appendingPathComponent("obama2.jpg").path, CLI.fixtures.appendingPathComponent("obama3.jpg").path],
                                         lobbyLiveness: true)
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        #expect(try s.w("enroll", "P1", CLI.fixtures.appendingPathComponent("obama.jpg").path).status == 0)
        #expect(try s.w("group", "add", "P1", "staff", "--policy", s.dir.appendingPathComponent("policy").path).status == 0)
        let r = try s.run(untilDecisions: 1, environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try #require(try s.events().first { $0.kind == .decision && $0.door == "lobby" })
        #expect(d.type == "access.granted" && d.face?.liveness?.verdict == "live" && (d.face?.liveness?.scores.count ?? 0) >= 3, "\(d)")
    }
}
