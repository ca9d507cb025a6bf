import CommandSupport
import ArgumentParser
import FaceKit
import Foundation

struct FacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Run the face engine on image files: detect, embed, compare.",
        discussion: """
        These commands exercise the engine directly, with no database. Images are read as \
        JPEG, PNG, WebP or PGM/PPM, recognised by content rather than by file name.

        Examples:
          warden faces detect photo.jpg
          warden faces embed --json photo.jpg
          warden faces compare alice-1.jpg alice-2.jpg
        """,
        subcommands: [DetectFaces.self, EmbedFaces.self, CompareFaces.self, FacesDemo.self]
    )
}

/// Detector settings shared by the `faces` subcommands.
struct DetectorOptions: ParsableArguments {
    @Option(help: "Detector: hog (fast, frontal) or cnn (MMOD; slower, finds turned and small faces).")
    var detector: FaceDetector = .hog

    @Option(help: "Times to double the image before detecting (0-4). Each step finds faces half as small, at ~4x the time.")
    var upsample: Int = 1

    @Option(name: .customLong("min-size"), help: "Ignore faces whose box is narrower than this many pixels.")
    var minimumFaceSize: Int = 0

    func validate() throws {
        guard (0...4).contains(upsample) else { throw ValidationError("--upsample must be between 0 and 4") }
        guard minimumFaceSize >= 0 else { throw ValidationError("--min-size must not be negative") }
    }

    var options: DetectionOptions {
        DetectionOptions(detector: detector, upsample: upsample, minimumFaceSize: minimumFaceSize)
    }

    func engine(_ global: some LoadsModels) throws -> FaceEngine { try global.loadEngine(cnn: detector == .cnn) }
}

extension FaceDetector: ExpressibleByArgument {}

/// JSON form of one face.
struct FaceRecord: Codable {
    struct Box: Codable { let left, top, right, bottom, width, height: Int }
    let box: Box
    let score: Double
    let interEyeDistance: Double
    let landmarks: [String: [Double]]

    init(_ face: Face) {
        box = Box(left: face.box.left, top: face.box.top, right: face.box.right, bottom: face.box.bottom,
                  width: face.box.width, height: face.box.height)
        score = face.score
        interEyeDistance = face.landmarks.interEyeDistance
        let l = face.landmarks
        landmarks = [
            "rightEyeOuter": [l.rightEyeOuter.x, l.rightEyeOuter.y], "rightEyeInner": [l.rightEyeInner.x, l.rightEyeInner.y],
            "leftEyeOuter": [l.leftEyeOuter.x, l.leftEyeOuter.y], "leftEyeInner": [l.leftEyeInner.x, l.leftEyeInner.y],
            "noseBase": [l.noseBase.x, l.noseBase.y],
        ]
    }
}

/// Decodes one image with a message that names the file.
func loadImage(_ path: String) throws -> RGBImage {
    do { return try RGBImage(contentsOf: path) } catch { throw CLIError("\(path): \(error.description)") }
}

/// Runs `body` on each image, collecting a result or the error for each, so one bad file
/// is reported without stopping the rest.
func eachImage<T>(_ paths: [String], _ body: (String, RGBImage) throws -> T) -> [(path: String, result: Result<T, Error>)] {
    paths.map { path in (path, Result { try body(path, try loadImage(path)) }) }
}

struct DetectFaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Print each face's box, score and five landmarks.",
        discussion: "Exit status is 1 if any image could not be read; the others are still reported."
    )

    @OptionGroup var global: ModelCommandOptions
    @OptionGroup var detection: DetectorOptions
    @Argument(help: "Image files.") var images: [String]

    struct ImageResult: Codable {
        let path: String
        let width: Int?
        let height: Int?
        let faces: [FaceRecord]?
        let error: String?
    }

    func run() throws {
        let engine = try detection.engine(global)
        let results = eachImage(images) { path, image in
            ImageResult(path: path, width: image.width, height: image.height,
                        faces: try engine.detect(image, options: detection.options).map(FaceRecord.init), error: nil)
        }.map { r in (try? r.result.get()) ?? ImageResult(path: r.path, width: nil, height: nil, faces: nil, error: r.result.errorText) }
        if global.json {
            try Output.json(results)
        } else {
            for r in results {
                guard let faces = r.faces, let w = r.width, let h = r.height else { Output.error(r.error ?? "failed"); continue }
                print("\(r.path) (\(w)x\(h)): \(faces.count) face\(faces.count == 1 ? "" : "s")")
                for (i, f) in faces.enumerated() {
                    print("  #\(i + 1) box (\(f.box.left),\(f.box.top))-(\(f.box.right),\(f.box.bottom)) \(f.box.width)x\(f.box.height)  score \(Output.fixed(f.score, 2))  eyes \(Output.fixed(f.interEyeDistance, 1)) px apart")
                    let order = ["rightEyeOuter", "rightEyeInner", "leftEyeOuter", "leftEyeInner", "noseBase"]
                    print("     landmarks " + order.map { k in "\(k) \(Int(f.landmarks[k]![0])),\(Int(f.landmarks[k]![1]))" }.joined(separator: "  "))
                }
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}

struct EmbedFaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the 128-D embedding of each face (unit length).",
        discussion: "Exit status is 1 if any image could not be read."
    )

    @OptionGroup var global: ModelCommandOptions
    @OptionGroup var detection: DetectorOptions
    @Flag(help: "Embed only the largest face of each image.") var largest = false
    @Argument(help: "Image files.") var images: [String]

    struct FaceEmbedding: Codable {
        let face: FaceRecord
        let model: String
        let rawNorm: Float
        let embedding: [Float]
    }
    struct ImageResult: Codable {
        let path: String
        let faces: [FaceEmbedding]?
        let error: String?
    }

    func run() throws {
        let engine = try detection.engine(global)
        let results = eachImage(images) { path, image in
            var faces = try engine.detect(image, options: detection.options)
            if largest, let big = faces.largest { faces = [big] }
            let embeddings = try engine.embed(image, faces: faces)
            return ImageResult(path: path, faces: zip(faces, embeddings).map {
                FaceEmbedding(face: FaceRecord($0), model: $1.modelID, rawNorm: $1.rawNorm, embedding: $1.values)
            }, error: nil)
        }.map { r in (try? r.result.get()) ?? ImageResult(path: r.path, faces: nil, error: r.result.errorText) }
        if global.json {
            try Output.json(results)
        } else {
            for r in results {
                guard let faces = r.faces else { Output.error(r.error ?? "failed"); continue }
                if faces.isEmpty { print("\(r.path): no face found") }
                for (i, f) in faces.enumerated() {
                    print("\(r.path) face #\(i + 1) box (\(f.face.box.left),\(f.face.box.top)) \(f.face.box.width)x\(f.face.box.height), model \(f.model), raw norm \(Output.fixed(Double(f.rawNorm), 4))")
                    print("  " + f.embedding.map { String(format: "%+.4f", $0) }.joined(separator: " "))
                }
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}

struct CompareFaces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Say whether two photos show the same person.",
        discussion: """
        Uses the largest face in each photo. Distances are between unit-length embeddings; \
        the default threshold, 0.41 Euclidean, is dlib's documented 0.6 on raw vectors \
        divided by their typical norm of 1.47 (docs/face-engine.md). Exit status is 0 for an \
        answer either way, 1 when a photo is unreadable or has no face.
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @OptionGroup var detection: DetectorOptions
    @Option(help: "Distance: euclidean, manhattan or cosine (angular, 0-1).") var metric: DistanceMetric = .euclidean
    @Option(help: "Same person at or below this distance (default 0.41 for euclidean; required for other metrics).")
    var threshold: Double?
    @Argument(help: "First photo.") var first: String
    @Argument(help: "Second photo.") var second: String

    struct Side: Codable { let path: String; let facesFound: Int; let face: FaceRecord }
    struct Result: Codable {
        let a: Side
        let b: Side
        let metric: String
        let distance: Double
        let threshold: Double
        let samePerson: Bool
        let model: String
    }

    func validate() throws {
        if metric != .euclidean && threshold == nil {
            throw ValidationError("--threshold is required with --metric \(metric.rawValue); the default 0.41 applies to euclidean only")
        }
    }

    func run() throws {
        let engine = try detection.engine(global)
        func side(_ path: String) throws -> (Side, Embedding) {
            let (embedding, face, found) = try probeEmbedding(path, engine: engine, options: detection.options,
                                                              noFaceHint: " (try --upsample 2 or --detector cnn for small or turned faces)")
            return (Side(path: path, facesFound: found, face: FaceRecord(face)), embedding)
        }
        let (a, ea) = try side(first)
        let (b, eb) = try side(second)
        let distance = try metric.distance(ea, eb)
        let limit = threshold ?? DefaultThresholds.euclidean
        let result = Result(a: a, b: b, metric: metric.rawValue, distance: distance, threshold: limit,
                            samePerson: distance <= limit, model: ea.modelID)
        if global.json { try Output.json(result); return }
        for s in [a, b] where s.facesFound > 1 { print("note: \(s.path) has \(s.facesFound) faces; compared the largest") }
        print("\(result.samePerson ? "SAME person" : "DIFFERENT people"): \(metric.rawValue) distance \(Output.fixed(distance, 4)) \(result.samePerson ? "<=" : ">") threshold \(Output.fixed(limit, 2))")
    }
}

extension DistanceMetric: ExpressibleByArgument {}

extension Result where Failure == Error {
    var errorText: String? { if case .failure(let e) = self { return "\(e)" }; return nil }
}
