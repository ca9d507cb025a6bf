import Audit
import FaceKit
import Foundation
import Storage
import Testing
import WardenCore

/// `warden enroll --camera` through the binary, on cameras built from real photos: an
/// image folder played as a camera, and the same photos as a video through ffmpeg.
@Suite("warden enroll --camera", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct CameraEnrollTests {
    struct Outcome: Decodable {
        struct T: Decodable { let templateID: Int64; let pose: String; let yaw: Double }
        let status: String; let templates: [T]; let frames: Int; let usableFrames: Int; let seconds: Double; let liveness: String; let reasons: [String]?
    }
    /// No PAD models: each test says whether liveness runs.
    let noPAD = ["WARDEN_PAD_MODELS": FileManager.default.temporaryDirectory.appendingPathComponent("warden-no-pad-\(UUID())").path]

    func person(_ home: CLI.Home) throws {
        #expect(try CLI.run(["person", "add", "Barack Obama", "--external-id", "P1"], home: home).status == 0)
    }

    func enroll(_ home: CLI.Home, _ source: String, _ extra: [String] = [], environment: [String: String]? = nil) throws -> (CLI.Result, Outcome?) {
        // A played-back folder ends the capture when it runs out; the capture's own limit is
        // set well past that, so a loaded machine (fewer frames a second) still sees every
        // photo: what is chosen must not depend on the machine's speed.
        let seconds = extra.contains("--seconds") ? [] : ["--seconds", "60"]
        let r = try CLI.run(["enroll", "P1", "--camera", source, "--json"] + seconds + extra, home: home, environment: environment ?? noPAD)
        return (r, try? JSONDecoder().decode(Outcome.self, from: Data(r.stdout.utf8)))
    }

    func templates(_ home: CLI.Home) throws -> [FaceTemplate] {
        let db = try WardenDatabase(home: home.path)
        return try db.templates.forPerson(1)
    }

    @Test(.needsSharedFaces) func oneIdentitysPhotosEnrollFromVariedPoses() throws {
        let home = CLI.Home()
        try person(home)
        let (r, o) = try enroll(home, CLI.sharedFaces.appendingPathComponent("Barack_Obama").path)
        #expect(r.status == 0, "\(r.stderr)")
        let out = try #require(o, "\(r.stdout)")
        #expect(out.status == "enrolled" && out.liveness == "not_checked")
        #expect(out.templates.count >= 3 && out.templates.count <= 5, "\(out.templates.map(\.pose))")
        #expect(Set(out.templates.map(\.pose)).count >= 3, "poses covered: \(out.templates.map(\.pose))")
        #expect(out.templates.first?.pose == "frontal")
        let stored = try templates(home)
        #expect(stored.allSatisfy { $0.sourceName.hasPrefix("camera ") })
        // dlib's template of each chosen face, and, with the second model installed, its
        // template of the same faces, in the same change.
        let dlib = stored.filter { $0.modelID == ModelSet.recognitionModelID }
        #expect(dlib.count == out.templates.count)
        #expect(stored.count - dlib.count == (CLI.secondModelInstalled ? dlib.count : 0), "\(stored.map(\.modelID))")
        // The chosen faces differ from one another: no frame enrolled twice.
        #expect(Set(stored.map(\.sourceSHA256)).count == stored.count)
        // No frame is kept: nothing but the database, keys and the log in the home.
        let files = try FileManager.default.subpathsOfDirectory(atPath: home.path)
        #expect(!files.contains { [".jpg", ".ppm", ".png"].contains(where: $0.hasSuffix) }, "\(files)")
        // The templates recognise a photo that was not in the capture's folder.
        let m = try CLI.run(["identify", CLI.fixtures.appendingPathComponent("obama2.jpg").path], home: home)
        #expect(m.status == 0 && m.stdout.contains("Barack Obama"), "\(m.stdout) \(m.stderr)")
        let events = try CLI.run(["audit", "export"], home: home).stdout
        #expect(events.components(separatedBy: "admin.enroll,").count - 1 == stored.count, "each template is audited")
    }

    @Test(.needsSharedFaces) func twoPeopleInViewAreRefused() throws {
        let home = CLI.Home()
        try person(home)
        let (r, o) = try enroll(home, CLI.sharedFaces.appendingPathComponent("_multi").path)
        #expect(r.status == 1 && o?.status == "refused")
        #expect(o?.reasons?.first?.contains("people are in view") == true, "\(r.stdout)")
        #expect(try templates(home).isEmpty)
    }

    @Test(.needsSharedFaces) func aSequenceWithoutAUsableFaceIsRefusedSayingWhy() throws {
        let home = CLI.Home()
        try person(home)
        let (r, o) = try enroll(home, CLI.sharedFaces.appendingPathComponent("_noface").path)
        #expect(r.status == 1 && o?.reasons?.first?.contains("no face was seen") == true, "\(r.stdout)")
        // Faces, but every one too small and blurred to enroll (faces94's 180x200 frames).
        let (small, so) = try enroll(home, CLI.sharedFaces.appendingPathComponent("faces94_anpage").path)
        #expect(small.status == 1 && so?.reasons?.first?.contains("no usable face") == true, "\(small.stdout)")
        #expect(try templates(home).isEmpty)
        // Not a camera at all.
        let none = try CLI.run(["enroll", "P1", "--camera", "/nonexistent/cam"], home: home)
        #expect(none.status != 0 && none.stderr.contains("no such camera"))
    }

    /// The same photos as a video file, through ffmpeg.
    @Test(.needsSharedFaces, .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ffmpeg"), "needs ffmpeg (make setup installs it)"))
    func aVideoFileEnrollsThroughFFmpeg() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-clip-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = try FileManager.default.contentsOfDirectory(atPath: CLI.sharedFaces.appendingPathComponent("Barack_Obama").path).sorted()
        // Each photo framed to 640x480 first (the image sequence demuxer keeps the first
        // frame's size), then a second a photo at 5 fps: a camera watching someone hold each pose.
        for (i, p) in photos.enumerated() {
            let r = try ChildProcess.run(["/usr/bin/ffmpeg", "-loglevel", "error", "-y", "-i", CLI.sharedFaces.appendingPathComponent("Barack_Obama/\(p)").path,
                                          "-vf", "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2",
                                          dir.appendingPathComponent(String(format: "f%03d.png", i)).path])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let clip = dir.appendingPathComponent("clip.mp4").path
        let made = try ChildProcess.run(["/usr/bin/ffmpeg", "-loglevel", "error", "-y", "-framerate", "1", "-i", dir.appendingPathComponent("f%03d.png").path,
                                         "-vf", "fps=5", "-pix_fmt", "yuv420p", clip])
        #expect(made.status == 0, "\(made.stderr)")
        let home = CLI.Home()
        try person(home)
        let (r, o) = try enroll(home, clip, ["--seconds", "30"])
        #expect(r.status == 0, "\(r.stderr) \(r.stdout)")
        #expect((o?.templates.count ?? 0) >= 3 && Set(o?.templates.map(\.pose) ?? []).count >= 3, "\(r.stdout)")
    }

    /// A face on a screen, at four sizes: refused as a presentation attack, and the refusal
    /// is in the audit log.
    @Test(.needsSharedFaces, .enabled(if: PADFiles.present, "needs ../shared/models and ../shared/pad; absent here, so skipped"))
    func aScreenIsRefusedAndLogged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-screen-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for s in [100, 94, 88, 82] {
            let r = try ChildProcess.run(["/usr/bin/ffmpeg", "-loglevel", "error", "-y", "-i", PADFiles.sample("image_F2.jpg"), "-vf", "scale=iw*\(s)/100:-2",
                                          dir.appendingPathComponent("f\(s).jpg").path])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let home = CLI.Home()
        try person(home)
        let (r, o) = try enroll(home, dir.path, environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(r.status == 1 && o?.reasons?.first?.contains("presentation attack") == true, "\(r.stdout) \(r.stderr)")
        #expect(try templates(home).isEmpty)
        let log = try CLI.run(["audit", "export"], home: home).stdout
        #expect(log.contains("admin.enroll_refused") && log.contains("presentation attack"))
        // A live person's photos pass the same check.
        let (live, lo) = try enroll(home, CLI.sharedFaces.appendingPathComponent("Barack_Obama").path, environment: ["WARDEN_PAD_MODELS": PADFiles.models])
        #expect(live.status == 0 && lo?.liveness == "live", "\(live.stdout) \(live.stderr)")
    }
}

/// `warden person undo-updates` removes what template update added, and only that.
@Suite("warden person undo-updates", .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct UndoTemplateUpdatesTests {
    @Test func removesOnlyAddedTemplatesAndRecordsEach() throws {
        let home = CLI.Home()
        #expect(try CLI.run(["person", "add", "Barack Obama", "--external-id", "P1"], home: home).status == 0)
        #expect(try CLI.run(["enroll", "P1", CLI.fixtures.appendingPathComponent("obama.jpg").path], home: home).status == 0)
        // What a door's template update stores: one more template, created by the updater.
        let enrolledCount: Int
        do {
            let db = try WardenDatabase(home: home.path)
            // One template per model installed (dlib's, and SFace's when make setup put it there).
            enrolledCount = try db.templates.forPerson(1).count
            #expect(enrolledCount == (CLI.secondModelInstalled ? 2 : 1))
            let enrolled = try #require(try db.templates.forPerson(1).first)
            var added = enrolled
            added.id = nil; added.embedding = Data(try db.templates.embedding(of: enrolled).serialized()); added.createdBy = "warden:template-update"; added.sourceName = "update at door lobby"; added.sourceSHA256 = String(repeating: "0", count: 64)
            _ = try db.templates.add(added, by: Operator("warden:template-update"))
        }
        let r = try CLI.run(["person", "undo-updates", "P1"], home: home)
        #expect(r.status == 0 && r.stdout.contains("removed 1 template"), "\(r.stdout) \(r.stderr)")
        let db = try WardenDatabase(home: home.path)
        let left = try db.templates.forPerson(1)
        #expect(left.count == enrolledCount && left.allSatisfy { $0.createdBy != "warden:template-update" })
        let again = try CLI.run(["person", "undo-updates", "P1"], home: home)
        #expect(again.stdout.contains("no template added by template update"))
        // (`audit verify` would flag the row this test stored behind the journal's back, as it should.)
        #expect(try CLI.run(["audit", "export"], home: home).stdout.contains("admin.template_delete"), "the removal is in the audit log")
    }
}

/// `warden enroll --camera DOOR` while `warden run` holds that door's camera: the
/// controller lends its frames over an owner-only socket and keeps deciding.
@Suite("warden enroll --camera at a running door", .serialized, .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"))
struct DoorCameraEnrollTests {
    @Test(.needsSharedFaces) func aRunningDoorsCameraEnrolls() async throws {
        let folder = CLI.sharedFaces.appendingPathComponent("Barack_Obama").path
        let photos = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { folder + "/" + $0 }
        let s = try RunCommandTests.Site(lobbyPhotos: photos)
        #expect(try s.w("person", "add", "Barack Obama", "--external-id", "P1").status == 0)
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = s.home.path
        env["WARDEN_PAD_MODELS"] = "/nonexistent"
        let bin = try #require(CLI.binary).path
        let run = try ChildProcess.start([bin, "run", "--site", s.siteFile, "--duration", "300"], environment: env)
        defer { run.kill(SIGTERM); _ = run.wait() }
        let socket = s.home.path + "/frames.sock"
        // The controller lends its cameras once it has loaded its models (with the second
        // model, dlib's 95 MB predictor too): up to three minutes under make test's load on a
        // slow machine. A wait, not a timed assertion.
        for _ in 0..<1800 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(FileManager.default.fileExists(atPath: socket), "the controller lends its cameras")
        let unknown = try CLI.run(["enroll", "P1", "--camera", "garage", "--seconds", "3"], home: s.home, environment: ["WARDEN_PAD_MODELS": "/nonexistent"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no door 'garage'"), "\(unknown.stderr)")
        let r = try CLI.run(["enroll", "P1", "--camera", "lobby", "--seconds", "20", "--json"], home: s.home, environment: ["WARDEN_PAD_MODELS": "/nonexistent"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let o = try? JSONDecoder().decode(CameraEnrollTests.Outcome.self, from: Data(r.stdout.utf8))
        #expect((o?.templates.count ?? 0) >= 2, "\(r.stdout)")
        run.kill(SIGTERM)
        #expect(run.wait().status == 0)
        // The door went on deciding while its camera was lent.
        #expect(try s.events().contains { $0.kind == .decision && $0.door == "lobby" })
    }
}
