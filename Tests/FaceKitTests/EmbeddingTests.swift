import FaceKit
import Foundation
import Testing

@Suite("Embeddings and metrics")
struct EmbeddingTests {
    func randomUnit(_ rng: inout SeededGenerator) throws -> Embedding {
        try Embedding(raw: (0..<128).map { _ in Float.random(in: -1...1, using: &rng) })
    }

    @Test func normalisesAndRejectsBadVectors() throws {
        let e = try Embedding(raw: [Float](repeating: 2, count: 128))
        #expect(abs(e.values[0] - 1 / Float(128).squareRoot()) < 1e-6)
        #expect(abs(e.rawNorm - 2 * Float(128).squareRoot()) < 1e-3)
        #expect(throws: EmbeddingError.wrongDimension(127)) { try Embedding(raw: [Float](repeating: 1, count: 127)) }
        #expect(throws: EmbeddingError.zeroVector) { try Embedding(raw: [Float](repeating: 0, count: 128)) }
        #expect(throws: EmbeddingError.notFinite) { try Embedding(raw: [.nan] + [Float](repeating: 1, count: 127)) }
    }

    @Test func serialisedFormRoundTripsAndIsChecked() throws {
        var rng = SeededGenerator(seed: 3)
        let e = try randomUnit(&rng)
        let bytes = e.serialized()
        #expect(try Embedding(serialized: bytes) == e)
        #expect(throws: EmbeddingError.self) { try Embedding(serialized: Array(bytes.dropLast())) }
        var wrongMagic = bytes; wrongMagic[0] = 0
        #expect(throws: EmbeddingError.self) { try Embedding(serialized: wrongMagic) }
        var notUnit = bytes  // the last value replaced by 1.0: no longer unit length
        notUnit.replaceSubrange((bytes.count - 4)..., with: [0x00, 0x00, 0x80, 0x3F])
        #expect(throws: EmbeddingError.self) { try Embedding(serialized: notUnit) }
    }

    @Test func differentModelsCannotBeCompared() throws {
        let a = try Embedding(raw: [Float](repeating: 1, count: 128), modelID: "model-a")
        let b = try Embedding(raw: [Float](repeating: 1, count: 128), modelID: "model-b")
        #expect(throws: EmbeddingError.modelMismatch("model-a", "model-b")) { try DistanceMetric.euclidean.distance(a, b) }
    }

    @Test func knownDistances() {
        let a: [Float] = [1, 0, 0], b: [Float] = [0, 1, 0], c: [Float] = [-1, 0, 0]
        #expect(abs(DistanceMetric.euclidean.distance(a, b) - 2.0.squareRoot()) < 1e-9)
        #expect(DistanceMetric.manhattan.distance(a, b) == 2)
        #expect(abs(DistanceMetric.cosine.distance(a, b) - 0.5) < 1e-9)
        #expect(abs(DistanceMetric.cosine.distance(a, c) - 1.0) < 1e-9)
        #expect(abs(cosineSimilarity(a, c) + 1) < 1e-9)
    }

    /// Embeddings of the fixtures, plus mirrored and rescaled versions of each, for a set of
    /// real points that are near, mid and far from one another.
    static func realEmbeddings() throws -> [[Float]] {
        try cacheLock.withLock {
            if let cached { return cached }
            cached = try computeRealEmbeddings()
            return cached!
        }
    }
    static let cacheLock = NSLock()
    nonisolated(unsafe) static var cached: [[Float]]?

    static func computeRealEmbeddings() throws -> [[Float]] {
        var result: [[Float]] = []
        for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "32bit.png"] {
            let img = try RGBImage(contentsOf: TestPaths.fixture(name))
            let small = img.resized(width: img.width / 2, height: img.height / 2)
            var mirrored = img
            for y in 0..<img.height {
                for x in 0..<img.width {
                    let s = (y * img.width + (img.width - 1 - x)) * 3, d = (y * img.width + x) * 3
                    mirrored.pixels[d] = img.pixels[s]; mirrored.pixels[d + 1] = img.pixels[s + 1]; mirrored.pixels[d + 2] = img.pixels[s + 2]
                }
            }
            for variant in [img, small, mirrored] {
                try SharedEngine.with { engine in
                    for face in try engine.detect(variant) { result.append(try engine.embed(variant, face: face).values) }
                }
            }
        }
        return result
    }

    /// Each metric is a metric on real embeddings: every triple is checked, not a sample.
    @Test(.needsModelsAndFixtures, arguments: DistanceMetric.allCases)
    func metricAxiomsHoldOnRealEmbeddings(metric: DistanceMetric) throws {
        let points = try Self.realEmbeddings()
        #expect(points.count >= 15)
        let tolerance = 1e-5
        for i in points.indices {
            #expect(metric.distance(points[i], points[i]) <= tolerance)
            for j in points.indices {
                let dij = metric.distance(points[i], points[j])
                #expect(dij >= 0)
                #expect(abs(dij - metric.distance(points[j], points[i])) <= tolerance)
                for k in points.indices {
                    let viaK = metric.distance(points[i], points[k]) + metric.distance(points[k], points[j])
                    if dij > viaK + tolerance {
                        Issue.record("triangle inequality fails for \(metric): d(\(i),\(j))=\(dij) > \(viaK)")
                    }
                }
            }
        }
    }

    /// Why "cosine" is the angle and not 1 − cos: the latter fails the triangle inequality
    /// on the same real embeddings, so it cannot be offered as a distance.
    @Test(.needsModelsAndFixtures) func oneMinusCosineIsNotAMetric() throws {
        let points = try Self.realEmbeddings()
        var violations = 0
        for i in points.indices {
            for j in points.indices {
                for k in points.indices {
                    let d = { (a: Int, b: Int) in 1 - cosineSimilarity(points[a], points[b]) }
                    if d(i, j) > d(i, k) + d(k, j) + 1e-6 { violations += 1 }
                }
            }
        }
        #expect(violations > 0)
    }

    @Test func metricAxiomsHoldOnRandomUnitVectors() throws {
        var rng = SeededGenerator(seed: 99)
        let points = try (0..<40).map { _ in try randomUnit(&rng).values }
        for metric in DistanceMetric.allCases {
            for _ in 0..<2000 {
                let i = Int.random(in: 0..<40, using: &rng), j = Int.random(in: 0..<40, using: &rng), k = Int.random(in: 0..<40, using: &rng)
                #expect(metric.distance(points[i], points[j]) <= metric.distance(points[i], points[k]) + metric.distance(points[k], points[j]) + 1e-5)
            }
        }
    }
}
