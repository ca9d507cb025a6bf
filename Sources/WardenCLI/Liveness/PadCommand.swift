import CommandSupport
import ArgumentParser
import FaceKit
import Foundation
import Matching
import Policy
import PresentationAttack

struct PadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pad",
        abstract: "Presentation-attack detection (liveness): score faces, measure framing and error rates.",
        discussion: """
        Warden checks each embedded face with the MiniFASNetV2 + MiniFASNetV1SE pair \
        (passive, one still at a time) and decides liveness per track over several frames. \
        The models are not in any package registry: `warden pad models` says where each \
        comes from and its SHA-256.

        Examples:
          warden pad models
          warden pad check ../shared/pad/image_F1.jpg ../shared/pad/image_T1.jpg
          warden pad eval --bona-fide ../shared/faces --attack print=prints/ --attack screen=screens/
          warden pad framing ../shared/faces
        """,
        subcommands: [PadModels.self, PadCheck.self, PadEvalPassthrough.self, PadMotionPassthrough.self, PadFramingPassthrough.self]
    )
}

extension LoadsModels {
    package func loadLiveness(framing: PADFraming = .retinaFace) throws -> LivenessDetector {
        do { return try LivenessDetector(locator: padModelLocator, framing: framing) } catch { throw CLIError(error.description) }
    }
}

struct PadModels: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "Where the liveness models are, or where to get them.")
    @OptionGroup var global: ModelCommandOptions

    struct Row: Codable { let file: String; let sha256: String; let source: String; let found: String?; let problem: String? }

    func run() throws {
        let locator = global.padModelLocator
        let rows = PADModelFile.allCases.map { f -> Row in
            do { return Row(file: f.rawValue, sha256: f.sha256, source: f.source, found: try locator.locate([f]), problem: nil) } catch {
                return Row(file: f.rawValue, sha256: f.sha256, source: f.source, found: nil, problem: "\(error)".components(separatedBy: "\n").first)
            }
        }
        if global.json { try Output.json(rows) } else {
            for r in rows {
                print("\(r.file): \(r.found.map { "installed in \($0)" } ?? "NOT INSTALLED (\(r.problem ?? ""))")")
                print("  from   \(r.source)\n  sha256 \(r.sha256)")
            }
            print("looked in: \(locator.candidates.joined(separator: ", "))")
        }
        let pairOK = rows.filter { r in PADModelFile.pair.map(\.rawValue).contains(r.file) }.allSatisfy { $0.found != nil }
        if !pairOK { throw ExitCode(1) }
    }
}

struct PadCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Score every face in image files: bona fide or attack, with each model's probabilities.",
        discussion: "One still is weak evidence; a door decides over several frames (`liveness_frames`). Exit status 1 if any image could not be read."
    )
    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Threshold on the pair's bona fide score, the geometric mean of both models' probabilities (default: the calibrated one in force).") var threshold: Double?
    @Argument(help: "Image files.") var images: [String]

    struct FaceResult: Codable { let box: PADBox; let bonaFide: Double; let live: Bool; let v2: [Double]; let v1se: [Double] }
    struct ImageResult: Codable { let path: String; let faces: [FaceResult]?; let error: String? }

    func run() throws {
        let engine = try global.loadEngine()
        let pad = try global.loadLiveness()
        let t = threshold ?? LivenessRule.standard.threshold
        let results = eachImage(images) { path, image in
            let faces = try engine.detect(image, options: DetectionOptions(upsample: 1))
            return ImageResult(path: path, faces: try faces.map { f in
                let s = try pad.score(image, face: f)
                return FaceResult(box: pad.framing.box(for: f.box), bonaFide: s.bonaFide, live: s.bonaFide >= t, v2: s.v2, v1se: s.v1se)
            }, error: nil)
        }.map { r in (try? r.result.get()) ?? ImageResult(path: r.path, faces: nil, error: r.result.errorText) }
        if global.json { try Output.json(results) } else {
            for r in results {
                guard let faces = r.faces else { Output.error("\(r.path): \(r.error ?? "failed")"); continue }
                print("\(r.path): \(faces.count) face\(faces.count == 1 ? "" : "s")")
                for (i, f) in faces.enumerated() {
                    print("  #\(i + 1) \(f.live ? "bona fide" : "ATTACK")  p(bona fide) \(Output.fixed(f.bonaFide)) (threshold \(Output.fixed(t)))  V2 \(f.v2.map { Output.fixed($0, 2) }.joined(separator: "/"))  V1SE \(f.v1se.map { Output.fixed($0, 2) }.joined(separator: "/"))")
                }
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}

