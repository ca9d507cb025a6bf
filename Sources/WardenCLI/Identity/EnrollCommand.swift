import CommandSupport
import ArgumentParser
import FleetProtocol
import Controller
import FaceKit
import Foundation
import Matching
import Storage

struct EnrollCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll a person's face from one or more photos, or at a camera. One photo is enough.",
        discussion: """
        Each photo must show exactly one face (or pass --largest), with the eyes at least 40 \
        pixels apart, sharp, and facing the camera. A rejected photo says why. A face that \
        already matches another enrolled person is refused unless --force. Only the template \
        (128 numbers) and a hash of the file are stored, never the photo.

        At a camera (--camera): the person stands in front of it for a few seconds and turns \
        a little as the screen says; Warden keeps up to --templates faces that cover frontal, \
        left, right, up and down and differ from one another. Two people in view, or no \
        usable face, refuses the capture and says why. With the presentation-attack models \
        installed, a print or a screen is refused (and logged). No frame is kept.
          warden enroll E1001 --camera /dev/video0
          warden enroll E1001 --camera rtsp://cam-lobby/stream --seconds 8
          warden enroll E1001 --camera clip.mp4 --json
          warden enroll E1001 --camera lobby        # the lobby's camera, lent by the running controller

        With a server (--server or WARDEN_SERVER), --camera names a door of any controller \
        of the fleet: the board running that door captures with its own camera and models, \
        sends back only the chosen templates, and the server checks them against the whole \
        fleet before storing them. This terminal shows the capture's progress.
          WARDEN_SERVER=https://warden.example:8443 warden enroll E1001 --camera lobby

        Exit status: 0 when every photo was enrolled (or was already enrolled), or the \
        capture stored its templates; 1 otherwise.
        """
    )

    @OptionGroup var global: AdminModelCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Warden id, external id or exact name.") var person: String
    @Argument(help: "Photos of that person.") var photos: [String] = []
    @Flag(help: "Use the largest face when a photo shows several.") var largest = false
    @Flag(help: "Enroll even if the face matches someone else.") var force = false
    @Option(help: ArgumentHelp("Enroll at a camera instead of from photos: a V4L2 device (/dev/videoN), a stream URL, a video file, a folder of images, or a door id (its running controller lends the camera).",
                               valueName: "source")) var camera: String?
    @Option(help: "How long the capture watches, at most.") var seconds = 6.0
    @Option(help: "Templates to keep from the capture (1 to 10).") var templates = 5

    func validate() throws {
        if camera == nil && photos.isEmpty { throw ValidationError("give photos of the person, or --camera SOURCE") }
        if camera != nil && !photos.isEmpty { throw ValidationError("give photos or --camera, not both") }
        if !(1...10).contains(templates) { throw ValidationError("--templates must be 1 to 10") }
        if !(1...60).contains(seconds) { throw ValidationError("--seconds must be 1 to 60") }
    }

    struct Result: Codable {
        let photo: String
        let status: String  // enrolled, already_enrolled, rejected, error
        let templateID: Int64?
        let quality: FaceQuality?
        let reasons: [String]?
        /// The second model whose template was enrolled with it, if any.
        var secondModel: String? = nil
    }

    func run() throws {
        if let camera {
            if let remote = try global.remoteAdmin() { try runAtDoorThroughServer(remote, door: camera); return }
            try runAtCamera(camera); return
        }
        if let remote = try global.remoteAdmin() { try runAtServer(remote); return }
        let db = try global.openDatabase()
        let p = try storage { try db.people.find(person) }
        var enroller = Enroller(engine: try global.loadEngine(), db: db, thresholds: try global.thresholds())
        // With the second model installed, each photo is enrolled for both models at once.
        let second = SecondModelLoading.load(global: global, metricHead: try global.metricHead())
        enroller.second = try? second.model?.make()
        var gallery = try global.loadGallery(db)
        var secondGallery = Gallery(modelID: enroller.second?.modelID ?? "none")
        var results: [Result] = []
        for photo in photos {
            do {
                let before = secondGallery.count
                switch try enroller.enroll(photo: photo, for: p, useLargest: largest, force: force, by: op.resolved, gallery: &gallery, secondGallery: &secondGallery) {
                case .enrolled(let t, let q):
                    var r = Result(photo: photo, status: "enrolled", templateID: t.id, quality: q, reasons: nil)
                    r.secondModel = secondGallery.count > before ? enroller.second?.modelID : nil
                    results.append(r)
                case .duplicatePhoto(let id): results.append(Result(photo: photo, status: "already_enrolled", templateID: id, quality: nil, reasons: nil))
                case .rejected(let why): results.append(Result(photo: photo, status: "rejected", templateID: nil, quality: nil, reasons: why))
                }
            } catch {
                results.append(Result(photo: photo, status: "error", templateID: nil, quality: nil, reasons: ["\(error)"]))
            }
        }
        if global.json {
            try Output.json(results)
        } else {
            for r in results {
                switch r.status {
                case "enrolled":
                    let q = r.quality!
                    print(String(format: "enrolled %@ for #%lld %@: template #%lld (eyes %.0f px, sharpness %.0f, yaw %+.2f, roll %+.1f°)%@",
                                 r.photo, p.id!, p.displayName, r.templateID!, q.interEyeDistance, q.sharpness, q.yaw, q.roll,
                                 r.secondModel.map { ", and its \($0) template" } ?? ""))
                case "already_enrolled": print("\(r.photo): already enrolled for #\(p.id!) as template #\(r.templateID!)")
                default:
                    Output.error("\(r.photo) not enrolled:")
                    for why in r.reasons ?? [] { FileHandle.standardError.write(Data("  - \(why)\n".utf8)) }
                }
            }
        }
        if !global.json, enroller.second == nil, let why = second.problem, results.contains(where: { $0.status == "enrolled" }) {
            Output.note("enrolled for dlib's model only: \(why)")
        }
        if results.contains(where: { $0.status == "rejected" || $0.status == "error" }) { throw ExitCode(1) }
    }
}

extension EnrollCommand {
    /// Each photo is sent to the server, which runs the same gates and the duplicate check
    /// against the whole fleet's gallery, keeps the template and discards the photo.
    func runAtServer(_ remote: RemoteAdmin) throws {
        var results: [Result] = []
        for photo in photos {
            do {
                let bytes = try RGBImage.readFile(photo)
                let r = try remote.post(AdminEnrollReply.self, AdminPath.enroll, AdminEnroll(person: person, photo: Data(bytes), sourceName: (photo as NSString).lastPathComponent,
                                                                                            useLargest: largest, force: force))
                var result = Result(photo: photo, status: r.status, templateID: r.templateID, quality: nil, reasons: r.reasons)
                result.secondModel = r.models?.dropFirst().first
                results.append(result)
            } catch {
                results.append(Result(photo: photo, status: "error", templateID: nil, quality: nil, reasons: ["\(error)"]))
            }
        }
        if global.json { try Output.json(results) } else {
            for r in results {
                if r.status == "enrolled" {
                    print("enrolled \(r.photo) for \(person) at \(remote.server): template #\(r.templateID!)" + (r.secondModel.map { ", and its \($0) template" } ?? ""))
                } else {
                    Output.error("\(r.photo) not enrolled:")
                    for why in r.reasons ?? [] { FileHandle.standardError.write(Data("  - \(why)\n".utf8)) }
                }
            }
        }
        if results.contains(where: { $0.status == "rejected" || $0.status == "error" }) { throw ExitCode(1) }
    }
}
