import CommandSupport
import WardenCLI
import Crypto
import FaceKit
import Foundation
import Matching
import MatchingLab
import OpenCVFaces
import WardenCore

/// Unit embeddings per identity, from a dataset folder, with a cache.
struct EmbeddingSet {
    var byIdentity: [String: [[Float]]] = [:]
    /// The SHA-256 of the image each vector came from, in the same order.
    var imageHashes: [String: [String]] = [:]
    var images = 0
    var failures: [String] = []

    /// The identities with at least one usable face, in name order.
    var identities: [String] { byIdentity.keys.sorted().filter { !(byIdentity[$0]?.isEmpty ?? true) } }

    /// A gallery in which each named identity enrolls its first photo, as person and
    /// template number (position in `names` + 1): how eval and calibrate simulate a site.
    func galleryOfFirstPhotos(_ names: [String]) -> Gallery {
        var gallery = Gallery()
        for (i, n) in names.enumerated() { try? gallery.add(templateID: Int64(i + 1), personID: Int64(i + 1), unitVector: byIdentity[n]![0]) }
        return gallery
    }

    /// The same set restricted to some identities.
    func only(_ names: Set<String>) -> EmbeddingSet {
        var out = self
        out.byIdentity = byIdentity.filter { names.contains($0.key) }
        out.imageHashes = imageHashes.filter { names.contains($0.key) }
        out.images = out.byIdentity.values.reduce(0) { $0 + $1.count }
        out.failures = []
        return out
    }

    /// Every vector projected through a metric head.
    func projected(through head: MetricHead) -> EmbeddingSet {
        var out = self
        out.byIdentity = byIdentity.mapValues { $0.map(head.project) }
        return out
    }

    /// A seeded split of the identities (never of one person's images) into training,
    /// validation and test sets: `testShare` and `validationShare` of them, rounded, at
    /// least one each when there are three or more identities.
    func split(testShare: Double, validationShare: Double, seed: UInt64) -> (train: [String], validation: [String], test: [String]) {
        var rng = SplitMix64(seed: seed)
        let names = byIdentity.keys.filter { !(byIdentity[$0]?.isEmpty ?? true) }.sorted().shuffled(using: &rng)
        let n = names.count
        let tests = n >= 3 ? max(1, Int((Double(n) * testShare).rounded())) : 0
        let vals = n >= 3 ? max(1, Int((Double(n) * validationShare).rounded())) : 0
        return (Array(names.dropFirst(tests + vals)).sorted(), Array(names.dropFirst(tests).prefix(vals)).sorted(), Array(names.prefix(tests)).sorted())
    }

    /// SHA-256 over the named identities' images ("identity:image-sha256" lines, sorted):
    /// what a metric head was trained on.
    func digest(of names: [String]) -> String {
        let lines = names.flatMap { n in (imageHashes[n] ?? []).map { "\(n):\($0)" } }.sorted().joined(separator: "\n")
        return Hex.encode(SHA256.hash(data: Data(lines.utf8)))
    }

    /// Every genuine pair, and every impostor pair or a seeded sample of them.
    func verificationScores(maxImpostorPairs: Int, seed: UInt64) -> VerificationScores {
        var genuine: [Double] = [], impostor: [Double] = []
        let flat = byIdentity.sorted { $0.key < $1.key }.flatMap { p in p.value.map { (p.key, $0) } }
        for i in flat.indices {
            for j in (i + 1)..<flat.count {
                let d = DistanceMetric.euclidean.distance(flat[i].1, flat[j].1)
                if flat[i].0 == flat[j].0 { genuine.append(d) } else { impostor.append(d) }
            }
        }
        if impostor.count > maxImpostorPairs {
            var rng = SplitMix64(seed: seed)
            impostor.shuffle(using: &rng)
            impostor = Array(impostor.prefix(maxImpostorPairs))
        }
        return VerificationScores(genuine: genuine, impostor: impostor)
    }

    /// `engine` finds the face (dlib's HOG and five points); `recognizer` embeds it (dlib's
    /// network when nil), so two models are measured on the very same faces.
    static func load(dataset: String, maxPerIdentity: Int, exclude: [String], cropped: Bool, engine: FaceEngine, recognizer: (any FaceRecognizer)? = nil,
                     cache: String, progress: Bool) throws -> EmbeddingSet {
        let recognizer: any FaceRecognizer = recognizer ?? engine
        let fm = FileManager.default
        guard let identities = try? FaceDataset(root: URL(fileURLWithPath: dataset)).identities(skipping: { name in exclude.contains { name.contains($0) } }) else {
            throw CLIError("cannot read the dataset folder \(dataset)")
        }
        try fm.createDirectory(atPath: cache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let alignment = (recognizer as? SFaceRecognizer).map { "-\($0.alignmentID)" } ?? ""
        let cacheFile = URL(fileURLWithPath: cache).appendingPathComponent("embeddings-\(recognizer.modelID)-\(FaceEngine.landmarkFitID)\(alignment).json")
        var cached = (try? JSONDecoder().decode([String: [Float]].self, from: Data(contentsOf: cacheFile))) ?? [:]
        var out = EmbeddingSet()
        var done = 0
        for identity in identities {
            let name = identity.name
            for url in identity.images.prefix(maxPerIdentity) {
                out.images += 1
                let path = url.path
                guard let bytes = fm.contents(atPath: path) else { out.failures.append(path); continue }
                let hash = Hex.encode(SHA256.hash(data: bytes))
                let key = hash + (cropped ? ":crop" : "")
                if let v = cached[key] {
                    if !v.isEmpty { out.byIdentity[name, default: []].append(v); out.imageHashes[name, default: []].append(hash) } else { out.failures.append(path) }
                    continue
                }
                var vector: [Float] = []
                if let image = try? RGBImage(decoding: Array(bytes), limits: ImageLimits(strict: false)) {
                    if cropped {
                        let box = FaceBox(left: 0, top: 0, right: image.width - 1, bottom: image.height - 1)
                        if let f = try? engine.landmarks(image, box: box), let e = try? recognizer.embed(image, face: f) { vector = e.values }
                    } else if let faces = try? engine.detect(image, options: DetectionOptions(upsample: 1)), faces.count == 1,
                              let e = try? recognizer.embed(image, face: faces[0]) {
                        vector = e.values
                    }
                }
                cached[key] = vector
                if vector.isEmpty { out.failures.append(path) } else { out.byIdentity[name, default: []].append(vector); out.imageHashes[name, default: []].append(hash) }
                done += 1
                if progress && done % 20 == 0 { Output.note("eval: embedded \(done) new images") }
            }
        }
        if done > 0 { try? JSONEncoder().encode(cached).write(to: cacheFile) }
        return out
    }
}

