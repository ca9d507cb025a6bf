import Crypto
import FaceKit
import Foundation
import WardenCore

/// The model files presentation-attack detection needs. No package registry ships them,
/// so `make setup` cannot fetch them: a site installs them by hand from the upstream
/// repositories below, checked against these SHA-256 sums (docs/security.md).
public enum PADModelFile: String, CaseIterable, Sendable {
    case miniFASNetV2 = "minifasnet_v2_2.7_80x80.onnx"
    case miniFASNetV1SE = "minifasnet_v1se_4.0_80x80.onnx"
    case retinaFaceModel = "retinaface_widerface.caffemodel"
    case retinaFacePrototxt = "retinaface_deploy.prototxt"

    public var sha256: String {
        switch self {
        case .miniFASNetV2: return "2297bf55fe379f5c341fb3dc8c45b1f7d4f2be4a1975eaa2350639338b13744c"
        case .miniFASNetV1SE: return "309f0e9d400ad0fae0fe6cfa343b766453ff2f75b71516b223c4878679d7d6ff"
        case .retinaFaceModel: return "d08338a2c207df16a9c566f767fea67fb43ba6fff76ce11e938fe3fabefb9402"
        case .retinaFacePrototxt: return "9fe2f141b4baee039ed9442da2833e216af40a6ff3e639e7b39258812bcda808"
        }
    }

    /// Where the file comes from.
    public var source: String {
        switch self {
        case .miniFASNetV2:
            return "minivision-ai/Silent-Face-Anti-Spoofing (commit b6d5f04) resources/anti_spoof_models/2.7_80x80_MiniFASNetV2.pth, exported to ONNX opset 11 (Apache-2.0)"
        case .miniFASNetV1SE:
            return "minivision-ai/Silent-Face-Anti-Spoofing (commit b6d5f04) resources/anti_spoof_models/4_0_0_80x80_MiniFASNetV1SE.pth, exported to ONNX opset 11 (Apache-2.0)"
        case .retinaFaceModel:
            return "minivision-ai/Silent-Face-Anti-Spoofing resources/detection_model/Widerface-RetinaFace.caffemodel (Apache-2.0)"
        case .retinaFacePrototxt:
            return "minivision-ai/Silent-Face-Anti-Spoofing resources/detection_model/deploy.prototxt (Apache-2.0)"
        }
    }

    /// What the file is for, in a sentence.
    public var role: String {
        switch self {
        case .miniFASNetV2: return "presentation-attack model at 2.7x the face (MiniFASNetV2), one of the pair every liveness check runs"
        case .miniFASNetV1SE: return "presentation-attack model at 4.0x the face (MiniFASNetV1SE), the other of the pair"
        case .retinaFaceModel: return "RetinaFace detector weights, for measuring the pair's framing only (`warden pad framing`)"
        case .retinaFacePrototxt: return "RetinaFace network description, with its weights"
        }
    }

    /// The pair every door check runs; RetinaFace is only for measuring framing.
    public static let pair: [PADModelFile] = [.miniFASNetV2, .miniFASNetV1SE]
}

/// A PAD model file is missing, or is not the file it should be.
public struct PADModelError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Problem: Sendable, Equatable {
        case missing
        case wrongSum(found: String)
        case unreadable(String)
    }
    public let file: PADModelFile
    public let problem: Problem
    public let searched: [String]

    public var description: String {
        let places = searched.map { "  - \($0)" }.joined(separator: "\n")
        let what: String
        switch problem {
        case .missing: what = "presentation-attack model not found: \(file.rawValue)\nlooked in:\n\(places)"
        case .wrongSum(let found): what = "presentation-attack model \(file.rawValue) in \(searched.first ?? "?") is not the expected file (its SHA-256 is \(found))"
        case .unreadable(let why): what = "presentation-attack model \(file.rawValue) cannot be read: \(why)"
        }
        return """
        \(what)
        It comes from \(file.source).
        Expected SHA-256: \(file.sha256)
        No package registry ships it, so `make setup` cannot fetch it: copy it into one of the folders above (or point --pad-models / WARDEN_PAD_MODELS at its folder), then check it with `sha256sum`. Until then, doors that require liveness keep their face factor out of service.
        """
    }
}

/// Finds the PAD models: `--pad-models DIR`, then `WARDEN_PAD_MODELS`, then wherever the
/// face models are looked for (`<home>/models`, the checkout's `models/`). A file found is
/// checked against its pinned SHA-256, so a truncated or substituted model is refused by
/// name before OpenCV ever parses it.
public struct PADModelLocator: Sendable {
    public var explicitDirectory: String?
    public var environment: [String: String]
    public var faceModels: ModelLocator

    public init(explicitDirectory: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment, faceModels: ModelLocator) {
        self.explicitDirectory = explicitDirectory; self.environment = environment; self.faceModels = faceModels
    }

    public var candidates: [String] {
        if let explicitDirectory { return [explicitDirectory] }
        if let env = environment["WARDEN_PAD_MODELS"], !env.isEmpty { return [env] }
        return faceModels.candidates
    }

    /// The folder holding every one of `files`, each checked against its sum.
    public func locate(_ files: [PADModelFile] = PADModelFile.pair) throws(PADModelError) -> String {
        let fm = FileManager.default
        var firstMissing: PADModelFile? = nil
        for dir in candidates {
            let missing = files.filter { !fm.isReadableFile(atPath: (dir as NSString).appendingPathComponent($0.rawValue)) }
            if missing.isEmpty {
                for f in files { try Self.check(f, in: dir) }
                return dir
            }
            if firstMissing == nil { firstMissing = missing.first }
        }
        throw PADModelError(file: firstMissing ?? files[0], problem: .missing, searched: candidates)
    }

    static func check(_ file: PADModelFile, in dir: String) throws(PADModelError) {
        let path = (dir as NSString).appendingPathComponent(file.rawValue)
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PADModelError(file: file, problem: .unreadable(error.localizedDescription), searched: [dir])
        }
        let sum = Hex.encode(SHA256.hash(data: data))
        guard sum == file.sha256 else { throw PADModelError(file: file, problem: .wrongSum(found: sum), searched: [dir]) }
    }
}
