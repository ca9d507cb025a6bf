import ArgumentParser
import Backup
import CommandSupport
import FaceKit
import Foundation
import OpenCVFaces
import PresentationAttack
import WardenCore

/// Every model file Warden can use, in one list: where it is (or where it was looked for),
/// whether it is the file it should be (its SHA-256 against the pinned one), what it is for,
/// and where it comes from, with its licence. The integrator's first question at a board
/// that will not recognise anyone.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the model files: found or missing, checked against their pinned SHA-256, what each is for, where it comes from.",
        discussion: """
        Three families: dlib's (every face is decided by it; without it no door can use \
        faces), the second recognition model (fused with dlib's when present), and the \
        presentation-attack pair (needed where a door requires liveness). Exit 0 when dlib's \
        required files are there and right, 1 otherwise. `warden pad models` shows the \
        liveness files alone.
        """
    )
    @OptionGroup var global: ModelCommandOptions

    struct Row: Codable {
        let family: String
        let file: String
        let role: String
        let required: Bool
        let found: String?
        /// "verified", "WRONG FILE (its SHA-256 is ...)", "UNREADABLE" or "missing".
        let check: String
        let sha256: String
        let source: String
    }

    func run() throws {
        var rows: [Row] = []
        let faceDirs = global.modelLocator.candidates
        for f in ModelFile.allCases {
            rows.append(Self.row("dlib", f.rawValue, role: f.role, required: f == .recognition || f == .landmarks, sha256: f.sha256, source: f.source, directories: faceDirs))
        }
        let second = global.recognitionModelLocator
        for f in RecognitionModelFile.allCases {
            rows.append(Self.row("second model", f.rawValue, role: f.role, required: false, sha256: f.sha256, source: f.source, directories: second.candidates))
        }
        let pad = global.padModelLocator
        for f in PADModelFile.allCases {
            rows.append(Self.row("liveness", f.rawValue, role: f.role, required: false, sha256: f.sha256, source: f.source, directories: pad.candidates))
        }
        func verified(_ file: String) -> Bool { rows.first { $0.file == file }?.check == "verified" }
        let facesDecided = rows.filter { $0.family == "dlib" && $0.required }.allSatisfy { $0.check == "verified" }
        let secondModel = verified(RecognitionModelFile.sface.rawValue) && verified(ModelFile.landmarks68.rawValue)
        let liveness = PADModelFile.pair.allSatisfy { verified($0.rawValue) }
        if global.json {
            struct R: Codable { let models: [Row]; let facesDecided: Bool; let secondModel: Bool; let liveness: Bool }
            try Output.json(R(models: rows, facesDecided: facesDecided, secondModel: secondModel, liveness: liveness))
        } else {
            let states = [
                ("dlib", facesDecided ? "faces can be decided" : "NOT READY: no door can use faces"),
                ("second model", secondModel ? "installed: fused with dlib's (SFace aligned by the 68 points)" : "not installed: faces are decided by dlib's model alone"),
                ("liveness", liveness ? "installed" : "not installed: doors that require liveness keep their face factor out of service"),
            ]
            for (family, state) in states {
                print("\(family): \(state)")
                for r in rows where r.family == family {
                    print("  \(r.file)  " + (r.found.map { "\(r.check): \($0)" } ?? "MISSING" + (r.required ? " (required)" : "")))
                    print("      \(r.role)")
                    print("      from \(r.source)")
                }
            }
            print("looked in: \(Array(Set(faceDirs + second.candidates + pad.candidates)).sorted().joined(separator: ", "))")
        }
        if !facesDecided { throw ExitCode(1) }
    }

    /// The first of `directories` that holds `file`, checked against its pinned sum.
    static func row(_ family: String, _ file: String, role: String, required: Bool, sha256: String, source: String, directories: [String]) -> Row {
        for dir in directories {
            let path = (dir as NSString).appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let check: String
            if let sum = FileDigest.sha256(ofFile: path)?.hex { check = sum == sha256 ? "verified" : "WRONG FILE (its SHA-256 is \(sum))" } else { check = "UNREADABLE" }
            return Row(family: family, file: file, role: role, required: required, found: path, check: check, sha256: sha256, source: source)
        }
        return Row(family: family, file: file, role: role, required: required, found: nil, check: "missing", sha256: sha256, source: source)
    }
}
