import Audit
import Controller
import FaceKit
import Foundation
import Matching
import OpenCVFaces
import Testing
import WardenTestSupport

/// Doors with the second model installed (SFace, aligned by dlib's 68 points), on real
/// photos through the simulated site: fused decisions, dlib alone for a person without the
/// second template, and that template added at a confident door pass.
enum SecondModelFixture {
    static var present: Bool {
        Paths.haveFixtures
            && FileManager.default.fileExists(atPath: TestCheckout.models.appendingPathComponent(RecognitionModelFile.sface.rawValue).path)
            && FileManager.default.fileExists(atPath: TestCheckout.models.appendingPathComponent(ModelFile.landmarks68.rawValue).path)
    }
    static let points = Result { try Dlib68Points(models: ModelSet(directory: TestCheckout.models.path)) }
    static func model() throws -> SiteController.SecondModel {
        let path = TestCheckout.models.appendingPathComponent(RecognitionModelFile.sface.rawValue).path
        let points = try points.get()
        return SiteController.SecondModel(modelID: SFaceRecognizer.modelID, make: { try SFaceRecognizer(sfacePath: path, points: points) },
                                          matching: SFaceRecognizer.measuredFusion)
    }
}

@Suite("Doors with the second face model", .serialized, .enabled(if: SecondModelFixture.present, "needs `make setup` (SFace, the 68-point predictor, fixtures)"))
struct SecondModelFlowTests {
    func rig(at hhmm: String = "10:00") throws -> Rig { try Rig(at: hhmm, secondModel: try SecondModelFixture.model()) }
    static let fused = FusedMatching.decidedBy([ModelSet.recognitionModelID, SFaceRecognizer.modelID])

    @Test func badgeAndFaceAreDecidedOnTheFusionAndAStrangerIsRefused() throws {
        let r = try rig()
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["it-admins"], badge: "12:1001")
        #expect(r.s.site.secondGallery.count == 1 && r.s.site.gallery.count == 1)
        try r.s.swipe("server-room", badge: "12:1001")
        try r.s.show("server-room", photo: Paths.fixture("obama2.jpg"))
        r.s.run(for: 4)
        r.at("10:10")
        try r.s.swipe("server-room", badge: "12:1001")
        try r.s.show("server-room", photo: Paths.fixture("biden.jpg"))
        let d = try r.decisions()
        #expect(d.map(\.type) == ["access.granted", "access.denied"])
        #expect(d.map { $0.face?.modelID } == [Self.fused, Self.fused], "\(d.map { $0.face?.modelID ?? "-" })")
        #expect(d[1].reasons == ["face_mismatch"])
        #expect(r.releases("server-room") == 1)
        r.s.finish()
    }

    @Test func aPersonWithoutTheSecondTemplateIsAdmittedOnDlibAndGainsItAtTheDoor() throws {
        let r = try rig(at: "08:30")
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["it-admins", "staff"], badge: "12:1001", secondModel: false)
        #expect(r.s.site.secondGallery.count == 0)
        #expect(r.s.site.faceModelsStatus["people_without_second_template"] == "1")
        try r.s.swipe("server-room", badge: "12:1001")
        try r.s.show("server-room", photo: Paths.fixture("obama2.jpg"))
        r.s.run(for: 4)
        // Decided on dlib alone (the person had no SFace template), then given one: the
        // badge was theirs and the face confidently inside dlib's threshold.
        var d = try r.decisions()
        #expect(d.first?.type == "access.granted" && d.first?.face?.modelID == ModelSet.recognitionModelID)
        let added = try r.events().filter { $0.type == "system.second_template_added" }
        #expect(added.count == 1 && added.first?.detail?["model"] == SFaceRecognizer.modelID && added.first?.detail?["vouched_by"] == "badge")
        #expect(r.s.site.secondGallery.count == 1 && r.s.site.faceModelsStatus["people_without_second_template"] == "0")
        let stored = try r.s.db.templates.all(modelID: SFaceRecognizer.modelID)
        #expect(stored.count == 1 && stored.first?.createdBy == SiteController.secondTemplateCreator)
        // The next pass (face only, at the lobby) is decided on the fusion; no second
        // template is added again.
        r.at("08:40")
        try r.s.show("lobby", photo: Paths.fixture("obama3.jpg"))
        d = try r.decisions()
        #expect(d.count == 2 && d[1].type == "access.granted" && d[1].face?.modelID == Self.fused, "\(d.map { "\($0.type) \($0.face?.modelID ?? "-") \($0.face?.distance ?? 9)/\($0.face?.threshold ?? 9) \($0.reasons ?? [])" })")
        #expect(try r.events().filter { $0.type == "system.second_template_added" }.count == 1)
        r.s.finish()
    }

    /// A fleet controller's templates are the server's replica (their ids are the server's,
    /// and the server's next change overwrites what a board wrote): the same confident pass
    /// is granted on dlib and adds nothing, and the status says where the template comes from.
    @Test func aFleetControllerAddsNoTemplateAtTheDoor() throws {
        let r = try rig(at: "08:30")
        r.s.site.templatesFromServer = true
        r.s.site.templateUpdate = TemplateUpdateRule(enabled: true, maximumAdded: 3, margin: 0.10)
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["it-admins", "staff"], badge: "12:1001", secondModel: false)
        let before = try r.s.db.templates.count()
        try r.s.swipe("server-room", badge: "12:1001")
        try r.s.show("server-room", photo: Paths.fixture("obama2.jpg"))
        r.s.run(for: 4)
        let d = try r.decisions()
        #expect(d.first?.type == "access.granted" && d.first?.face?.modelID == ModelSet.recognitionModelID)
        #expect(try r.s.db.templates.count() == before && r.s.site.secondGallery.count == 0)
        #expect(try r.events().filter { $0.type == "system.second_template_added" || $0.type == "system.template_update" }.isEmpty)
        #expect(r.s.site.faceModelsStatus["second_template_from"]?.contains("fleet server") == true)
        r.s.finish()
    }

    @Test func aFaceOnlyDoorNamesThePersonOnTheFusionAndRefusesAStranger() throws {
        let r = try rig(at: "08:30")
        try r.s.enroll(name: "Barack Obama", photo: Paths.fixture("obama.jpg"), groups: ["staff"], badge: nil)
        try r.s.show("lobby", photo: Paths.fixture("biden.jpg"))
        try r.s.show("lobby", photo: Paths.fixture("obama3.jpg"))
        let d = try r.decisions()
        #expect(d.map(\.type) == ["access.denied", "access.granted"])
        #expect(d[0].reasons == ["not_recognized"] && d[1].personName == "Barack Obama")
        #expect(d[1].face?.modelID == Self.fused)
        r.s.finish()
    }
}
