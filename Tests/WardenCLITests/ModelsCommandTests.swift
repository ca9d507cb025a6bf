import Foundation
import Testing

/// `warden models`: every model file, found or not, checked against its pinned SHA-256.
@Suite("warden models")
struct ModelsCommandTests {
    struct Reply: Decodable {
        struct Row: Decodable { let family: String; let file: String; let found: String?; let check: String; let sha256: String; let required: Bool }
        let models: [Row]; let facesDecided: Bool; let secondModel: Bool; let liveness: Bool
    }

    /// The sums the binary pins are the ones `make setup` checks: written in two places, kept
    /// equal here.
    @Test func thePinnedSumsAreTheSetupsSums() throws {
        let r = try CLI.run(["models", "--json"])
        let reply = try JSONDecoder().decode(Reply.self, from: Data(r.stdout.utf8))
        let setup = try String(contentsOf: CLI.root.appendingPathComponent("scripts/checksums.sha256"), encoding: .utf8)
        var pinned: [String: String] = [:]
        for line in setup.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2, parts[1].hasPrefix("models/") { pinned[String(parts[1].dropFirst(7))] = String(parts[0]) }
        }
        #expect(pinned.count >= 4)
        for (file, sum) in pinned {
            let row = try #require(reply.models.first { $0.file == file }, "\(file) is in scripts/checksums.sha256 but not in `warden models`")
            #expect(row.sha256 == sum, "\(file): the binary pins \(row.sha256), make setup checks \(sum)")
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: CLI.root.appendingPathComponent("models/dlib_face_recognition_resnet_model_v1.dat").path), "needs `make setup`'s models"))
    func theInstalledModelsAreVerifiedAndAWrongFileIsNamed() throws {
        let r = try CLI.run(["models", "--json"])
        let reply = try JSONDecoder().decode(Reply.self, from: Data(r.stdout.utf8))
        #expect(r.status == 0 && reply.facesDecided)
        #expect(reply.models.filter { $0.family == "dlib" && $0.required }.allSatisfy { $0.check == "verified" })
        // A file of the right name and the wrong bytes, found first: named, and the board is not ready.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-models-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("not a network".utf8).write(to: dir.appendingPathComponent("dlib_face_recognition_resnet_model_v1.dat"))
        let wrong = try CLI.run(["models", "--models", dir.path])
        #expect(wrong.status == 1 && wrong.stdout.contains("dlib: NOT READY") && wrong.stdout.contains("WRONG FILE (its SHA-256 is"), "\(wrong.stdout)")
    }
}
