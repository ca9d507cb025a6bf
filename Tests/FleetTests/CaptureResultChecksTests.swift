import FaceKit
import FleetLink
import FleetProtocol
@testable import FleetServer
import Foundation
import Testing
import WardenCore

/// What a board sends back from a capture at its door is untrusted input like anything else
/// from the network; the second model's templates of the chosen faces (when the board has
/// SFace) are checked as strictly as dlib's, then stored beside them in the same change.
@Suite(.serialized) struct CaptureResultChecksTests {
    static let sface = "opencv_zoo_sface_2021dec"

    /// A unit vector of 128 values, different for each seed.
    static func vector(_ seed: Int) -> [Float] {
        var r = SplitMix64(seed: UInt64(seed))
        return (0..<128).map { _ in Float(r.next() % 2001) / 1000 - 1 }
    }

    static func face(_ seed: Int, second: Data?) throws -> CapturedTemplateWire {
        let e = try Embedding(raw: vector(seed))
        return CapturedTemplateWire(embedding: Data(e.serialized()), modelID: e.modelID, pose: "frontal", yaw: 0, noseDrop: 0.7, roll: 0,
                                    interEyeDistance: 60, sharpness: 120, detectionScore: 1, frame: seed, secondEmbedding: second)
    }

    static func secondData(_ seed: Int, model: String = sface) throws -> Data { Data(try Embedding(raw: vector(seed), modelID: model).serialized()) }

    @Test func theSecondModelsTemplatesAreCheckedThenStoredBesideDlibs() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let ops = try await HostileInputTests.operators(h)
            let board = try await h.joinedController("b1")
            let link = try board.agent.membership.transport()
            let p = try await ops.enroller.postJSON(PersonRecordWire.self, AdminPath.people, AdminPersonAdd(name: "Ada", externalID: "E1", validFrom: nil, validUntil: nil))
            /// A capture job at b1's lobby, taken by b1, answered with `faces`.
            func capture(_ faces: [CapturedTemplateWire]) async throws -> CaptureJobStatus {
                _ = try await link.postJSON(HeartbeatReply.self, FleetPath.heartbeat, HostileInputTests.report(["lobby"]))
                _ = try await ops.enroller.postJSON(CaptureJobStatus.self, AdminPath.enrollCamera, AdminCameraEnroll(person: "#\(p.id)", door: "lobby", seconds: 5, templates: 3, force: true))
                let job = try #require(try await link.getJSON([CaptureJob].self, FleetPath.captures, query: ["wait": "5"]).first)
                return try await link.postJSON(CaptureJobStatus.self, FleetPath.captureResult,
                                               CaptureResultWire(job: job.id, captured: true, reason: nil, templates: faces, frames: 10, usable: 8, seconds: 3,
                                                                 liveness: "not_checked", livenessScore: nil, livenessNote: nil))
            }
            func stored() async throws -> [AdminTemplateInfo] { try await h.central { try await $0.personDetail("#\(p.id)").templates } }

            let refusals: [(String, [CapturedTemplateWire], String)] = [
                ("bytes that are no embedding", [try Self.face(1, second: Data([1, 2, 3]))], "second-model template that cannot be read"),
                ("dlib's own model as the second", [try Self.face(2, second: try Self.secondData(2, model: ModelSet.recognitionModelID))], "cannot be read"),
                ("a second template for one face of two", [try Self.face(3, second: try Self.secondData(3)), try Self.face(4, second: nil)], "some faces and not others"),
                ("two second models", [try Self.face(5, second: try Self.secondData(5)), try Self.face(6, second: try Self.secondData(6, model: "another_model"))],
                 "of different models"),
            ]
            for (what, faces, reason) in refusals {
                let s = try await capture(faces)
                #expect(s.state == .refused && (s.reason ?? "").contains(reason), "\(what): \(s.state) \(s.reason ?? "")")
                #expect(try await stored().isEmpty, "\(what): nothing is stored")
            }

            // Two faces, each with its SFace template: four templates in one change, reported in pairs.
            let s = try await capture([try Self.face(7, second: try Self.secondData(7)), try Self.face(8, second: try Self.secondData(8))])
            #expect(s.state == .enrolled && s.templateIDs.count == 2 && s.secondTemplateIDs?.count == 2 && s.secondModel == Self.sface, "\(s)")
            let rows = try await stored()
            #expect(Set(rows.map(\.id)) == Set(s.templateIDs + (s.secondTemplateIDs ?? [])))
            #expect(rows.filter { $0.modelID == Self.sface }.map(\.id).sorted() == (s.secondTemplateIDs ?? []).sorted())
            let opened = try await h.central { try await $0.allTemplates(modelID: Self.sface) }
            #expect(opened.count == 2 && opened.allSatisfy { $0.embedding.modelID == Self.sface })

            // A board without the second model (or an older one): dlib's alone, as before.
            let plain = try await capture([try Self.face(9, second: nil)])
            #expect(plain.state == .enrolled && plain.templateIDs.count == 1 && plain.secondTemplateIDs == nil, "\(plain)")
        }
    }
}
