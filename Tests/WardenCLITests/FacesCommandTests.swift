import CommandSupport
import Foundation
import Testing
@testable import WardenCLI

@Suite("warden faces", .serialized)
struct FacesCommandTests {
    func fixture(_ name: String) -> String { CLI.fixtures.appendingPathComponent(name).path }

    @Test(.needsFixtures) func compareSaysSameAndDifferentOnTheFixtures() throws {
        let same = try CLI.run(["faces", "compare", "--json", fixture("obama.jpg"), fixture("obama3.jpg")])
        #expect(same.status == 0, "\(same.stderr)")
        let s = try #require(try same.json() as? [String: Any])
        #expect(s["samePerson"] as? Bool == true)
        #expect((s["distance"] as? Double ?? 9) < (s["threshold"] as? Double ?? 0))

        let different = try CLI.run(["faces", "compare", fixture("obama.jpg"), fixture("biden.jpg")])
        #expect(different.status == 0)
        #expect(different.stdout.contains("DIFFERENT people"))
    }

    @Test(.needsFixtures) func detectReportsFacesAndContinuesPastBadFiles() throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bad-\(UUID()).jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let r = try CLI.run(["faces", "detect", "--json", fixture("obama.jpg"), bad.path])
        #expect(r.status == 1)
        let list = try #require(try r.json() as? [[String: Any]])
        #expect(list.count == 2)
        #expect((list[0]["faces"] as? [Any])?.count == 1)
        #expect((list[1]["error"] as? String)?.contains("corrupt or truncated JPEG") == true)
    }

    @Test(.needsFixtures) func embedPrintsUnitVectors() throws {
        let r = try CLI.run(["faces", "embed", "--json", "--largest", fixture("obama2.jpg")])
        #expect(r.status == 0)
        let list = try #require(try r.json() as? [[String: Any]])
        let face = try #require((list.first?["faces"] as? [[String: Any]])?.first)
        let vector = try #require(face["embedding"] as? [Double])
        #expect(vector.count == 128)
        #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
    }

    @Test(.needsFixtures) func compareExplainsAPhotoWithNoFace() throws {
        let blank = FileManager.default.temporaryDirectory.appendingPathComponent("warden-blank-\(UUID()).ppm")
        try Data(Array("P6 64 64 255\n".utf8) + [UInt8](repeating: 128, count: 64 * 64 * 3)).write(to: blank)
        defer { try? FileManager.default.removeItem(at: blank) }
        let r = try CLI.run(["faces", "compare", fixture("obama.jpg"), blank.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no face found"))
        #expect(r.stderr.contains(blank.path))
    }

    @Test func missingModelsTellTheUserToRunSetup() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("warden-nomodels-\(UUID())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let r = try CLI.run(["faces", "detect", "--models", empty.path, "whatever.jpg"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("make setup"))
        #expect(r.stderr.contains(empty.path))
    }

    @Test func helpTeaches() throws {
        let r = try CLI.run(["faces", "--help"])
        #expect(r.status == 0)
        for word in ["detect", "embed", "compare", "Examples"] { #expect(r.stdout.contains(word)) }
        let bad = try CLI.run(["faces", "detect", "--upsample", "9", "x.jpg"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--upsample must be between 0 and 4"))
    }

    /// Real photos from the internal face set: two of one person, and two different people.
    @Test(.needsSharedFaces) func compareOnTheSharedFaceSet() throws {
        let obama = CLI.sharedFaces.appendingPathComponent("Barack_Obama")
        let denzel = CLI.sharedFaces.appendingPathComponent("Denzel_Washington")
        func photos(_ dir: URL) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0).path }
        }
        let o = try photos(obama), d = try photos(denzel)
        let same = try CLI.run(["faces", "compare", "--json", o[1], o[2]])
        #expect(same.status == 0, "\(same.stderr)")
        #expect((try same.json() as? [String: Any])?["samePerson"] as? Bool == true)
        let different = try CLI.run(["faces", "compare", "--json", o[1], d[0]])
        #expect(different.status == 0, "\(different.stderr)")
        #expect((try different.json() as? [String: Any])?["samePerson"] as? Bool == false)
    }
}

@Suite("Data directory")
struct WardenHomeTests {
    @Test func resolutionOrder() {
        #expect(WardenHome(explicit: "/x", environment: ["WARDEN_HOME": "/e"], isRoot: true).path == "/x")
        #expect(WardenHome(explicit: nil, environment: ["WARDEN_HOME": "/e"], isRoot: true).path == "/e")
        #expect(WardenHome(explicit: nil, environment: [:], isRoot: true).path == "/var/lib/warden")
        #expect(WardenHome(explicit: nil, environment: ["XDG_DATA_HOME": "/xdg"], isRoot: false).path == "/xdg/warden")
        #expect(WardenHome(explicit: nil, environment: ["HOME": "/home/u"], isRoot: false).path == "/home/u/.local/share/warden")
    }

    @Test func createdOwnerOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-home-\(UUID())/nested")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        try WardenHome(explicit: dir.path).create()
        let mode = try FileManager.default.attributesOfItem(atPath: dir.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }
}
