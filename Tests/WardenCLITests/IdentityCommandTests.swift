import Controller
import FaceKit
import Foundation
import Matching
import Storage
import Testing
import WardenCore
@testable import WardenCLI

@Suite("warden person / enroll / badge / verify / identify", .serialized)
struct IdentityCommandTests {
    func fixture(_ name: String) -> String { CLI.fixtures.appendingPathComponent(name).path }

    @Test(.needsFixtures) func oneShotEnrollmentThenVerifyAndIdentify() throws {
        let home = CLI.Home()
        func w(_ args: String...) throws -> CLI.Result { try CLI.run(args, home: home) }

        #expect(try w("person", "add", "Barack Obama", "--external-id", "P1", "--operator", "alice").status == 0)
        #expect(try w("person", "add", "Joe Biden").status == 0)
        let enrolled = try w("enroll", "P1", fixture("obama.jpg"), "--json")
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        #expect((try enrolled.json() as? [[String: Any]])?.first?["status"] as? String == "enrolled")
        #expect(try w("enroll", "Joe Biden", fixture("biden.jpg")).status == 0)
        // The same file again is recognised as already enrolled, not stored twice.
        let again = try w("enroll", "P1", fixture("obama.jpg"))
        #expect(again.status == 0 && again.stdout.contains("already enrolled"))

        // Obama's face cannot be enrolled as Biden: it names who it matched.
        let dup = try w("enroll", "Joe Biden", fixture("obama2.jpg"))
        #expect(dup.status == 1)
        #expect(dup.stderr.contains("already matches #1 Barack Obama"))

        #expect(try w("badge", "issue", "P1", "12:345").status == 0)
        let match = try w("verify", "--badge", "12:345", fixture("obama3.jpg"), "--json")
        let m = try #require(try match.json() as? [String: Any])
        #expect(m["match"] as? Bool == true)
        #expect((m["margin"] as? Double ?? -1) > 0)
        let wrongFace = try #require(try w("verify", "--badge", "12:345", fixture("biden.jpg"), "--json").json() as? [String: Any])
        #expect(wrongFace["match"] as? Bool == false && wrongFace["reason"] as? String == "too_far")
        let unknown = try #require(try w("verify", "--badge", "99:1", fixture("obama3.jpg"), "--json").json() as? [String: Any])
        #expect(unknown["reason"] as? String == "badge_unknown")
        #expect(try w("badge", "revoke", "12:345").status == 0)
        let revoked = try #require(try w("verify", "--badge", "12:345", fixture("obama3.jpg"), "--json").json() as? [String: Any])
        #expect(revoked["match"] as? Bool == false && revoked["reason"] as? String == "badge_revoked")

        let ident = try #require(try w("identify", fixture("obama3.jpg"), "--json").json() as? [String: Any])
        #expect(ident["identified"] as? Bool == true && ident["personName"] as? String == "Barack Obama")
        #expect(ident["galleryPeople"] as? Int == 2)
        #expect((ident["expectedFPIR"] as? Double ?? 1) <= (ident["targetFPIR"] as? Double ?? 0) * 1.000001)

        // Suspended people are not named, and nobody else is named in their place.
        #expect(try w("person", "suspend", "P1").status == 0)
        let susp = try #require(try w("identify", fixture("obama3.jpg"), "--json").json() as? [String: Any])
        #expect(susp["identified"] as? Bool == false && susp["reason"] as? String == "inactive")

        // Removal forgets the face: the photo is now "not recognized".
        let removed = try w("person", "remove", "P1", "--yes", "--json")
        #expect((try removed.json() as? [String: Any])?["templatesDeleted"] as? Int == (CLI.secondModelInstalled ? 2 : 1))
        let gone = try #require(try w("identify", fixture("obama3.jpg"), "--json").json() as? [String: Any])
        #expect(gone["identified"] as? Bool == false)
        #expect((gone["candidates"] as? [[String: Any]])?.contains { $0["name"] as? String == "Barack Obama" } == false)
    }

    @Test(.needsFixtures) func enrollmentRejectionsSayWhy() throws {
        let home = CLI.Home()
        #expect(try CLI.run(["person", "add", "X"], home: home).status == 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-enroll-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // No face.
        let blank = dir.appendingPathComponent("blank.ppm")
        try Data(RGBImage(width: 200, height: 200, fill: (90, 90, 90)).ppmData()).write(to: blank)
        // Too small: the fixture shrunk so the eyes are ~20 px apart.
        let obama = try RGBImage(contentsOf: fixture("obama.jpg"))
        let tiny = dir.appendingPathComponent("tiny.jpg")
        try Data(obama.resized(width: obama.width / 5, height: obama.height / 5).jpegData()).write(to: tiny)
        // Blurred: a heavy box blur of the full-size photo.
        let blurred = dir.appendingPathComponent("blurred.jpg")
        try Data(obama.resized(width: obama.width / 8, height: obama.height / 8).resized(width: obama.width, height: obama.height).jpegData()).write(to: blurred)

        let r = try CLI.run(["enroll", "X", blank.path, tiny.path, blurred.path, "--json"], home: home)
        #expect(r.status == 1)
        let results = try #require(try r.json() as? [[String: Any]])
        let reasons = results.map { ($0["reasons"] as? [String] ?? []).joined(separator: " ") }
        #expect(reasons[0].contains("no face found"))
        #expect(reasons[1].contains("face too small") || reasons[1].contains("no face found"))
        #expect(reasons[2].contains("too blurred"))
        #expect(results.allSatisfy { $0["status"] as? String == "rejected" })
    }

    /// Open-set identification on real photos: enroll one photo for each of several people,
    /// then their other photos must be identified as them and never as anyone else, and
    /// photos of people who were not enrolled must come back "not recognized".
    @Test(.needsSharedFaces, .needsFixtures) func openSetIdentificationOnTheSharedFaceSet() throws {
        let engine = try FaceEngine(locator: ModelLocator(checkoutDirectory: CLI.root.appendingPathComponent("models").path))
        let home = CLI.Home()
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        let db = try WardenDatabase(home: home.path)
        let enroller = Enroller(engine: engine, db: db)
        var gallery = Gallery()
        let op = Operator("test")

        func photos(_ identity: String) throws -> [String] {
            let dir = CLI.sharedFaces.appendingPathComponent(identity)
            return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0).path }
        }
        let enrolledIdentities = ["Angelina_Jolie", "Brad_Pitt", "Denzel_Washington", "Hugh_Jackman", "Jennifer_Lawrence",
                                  "Johnny_Depp", "Kate_Winslet", "Leonardo_DiCaprio"]
        let strangers = ["Barack_Obama", "Madonna", "Jerry_Seinfeld", "Mindy_Kaling", "Elton_John"]
        var probes: [(Int64, String)] = []
        for name in enrolledIdentities {
            let person = try db.people.add(Person(displayName: name), by: op)
            var list = try photos(name)
            // One photo is enough: the first that passes the quality gates.
            while !list.isEmpty {
                let photo = list.removeFirst()
                if case .enrolled = try enroller.enroll(photo: photo, for: person, useLargest: true, force: false, by: op, gallery: &gallery) { break }
            }
            probes += list.prefix(4).map { (person.id!, $0) }
        }
        #expect(gallery.personCount == enrolledIdentities.count)

        let identifier = Identifier()
        func identify(_ path: String) throws -> Identification? {
            let image = try RGBImage(contentsOf: path, limits: ImageLimits(strict: false))
            guard let face = try engine.detect(image).largest else { return nil }
            return identifier.identify(try engine.embed(image, face: face).values, in: gallery) { _ in true }
        }
        var right = 0, wrong = 0, missed = 0
        for (pid, path) in probes {
            guard let r = try identify(path) else { missed += 1; continue }
            switch r.outcome {
            case .identified(let who): if who == pid { right += 1 } else { wrong += 1; Issue.record("\(path) identified as #\(who)") }
            case .notRecognized: missed += 1
            }
        }
        var strangerMatches = 0, strangerProbes = 0
        for name in strangers {
            for path in try photos(name).prefix(3) {
                guard let r = try identify(path) else { continue }
                strangerProbes += 1
                if case .identified(let who) = r.outcome { strangerMatches += 1; Issue.record("stranger \(path) identified as #\(who)") }
            }
        }
        print("open-set: \(right) right, \(wrong) wrong, \(missed) not recognized of \(probes.count) mated probes; \(strangerMatches) of \(strangerProbes) strangers matched")
        #expect(wrong == 0)
        #expect(strangerMatches == 0)
        #expect(strangerProbes >= 10)
        // Most mated probes are named; the strict 1:N threshold trades some misses for
        // never naming the wrong person.
        #expect(Double(right) / Double(probes.count) >= 0.6)
    }
}
