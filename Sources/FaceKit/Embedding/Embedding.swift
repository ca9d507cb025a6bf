import Foundation

/// A face embedding: 128 floats on the unit hypersphere, tagged with the network that made it.
///
/// dlib's network emits vectors whose norm is not 1 (about 1.3 to 1.45 on real faces).
/// Warden normalises them, so Euclidean distance, cosine similarity and angle are all
/// functions of one another and a threshold means the same thing for every face; it keeps
/// the raw norm for diagnostics and for comparison with dlib's raw-vector tools.
public struct Embedding: Sendable, Equatable, Hashable {
    public static let dimension = 128

    public let values: [Float]
    public let modelID: String
    /// The L2 norm of the raw network output before normalisation.
    public let rawNorm: Float

    /// Normalises `raw` onto the unit sphere.
    public init(raw: [Float], modelID: String = ModelSet.recognitionModelID) throws(EmbeddingError) {
        guard raw.count == Self.dimension else { throw .wrongDimension(raw.count) }
        guard raw.allSatisfy(\.isFinite) else { throw .notFinite }
        let norm = raw.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        guard norm > 1e-6 else { throw .zeroVector }
        self.values = raw.map { $0 / norm }
        self.modelID = modelID
        self.rawNorm = norm
    }

    /// The raw vector as dlib produced it (values x rawNorm), for comparison with tools that
    /// use dlib's unnormalised descriptors.
    public var rawValues: [Float] { values.map { $0 * rawNorm } }

    // MARK: Serialised form
    //
    // "WEMB", version byte 1, model-id length (UInt8) and UTF-8 bytes, raw norm (Float32 LE),
    // then 128 Float32 LE values. Self-describing so a stored template can never be read
    // back as the wrong model's vector.

    private static let magic: [UInt8] = Array("WEMB".utf8)

    public func serialized() -> [UInt8] {
        let id = Array(modelID.utf8.prefix(255))
        var out = Self.magic + [1, UInt8(id.count)] + id
        out.reserveCapacity(out.count + 4 * (1 + Self.dimension))
        for f in [rawNorm] + values { withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    public init(serialized bytes: [UInt8]) throws(EmbeddingError) {
        guard bytes.count >= 6, Array(bytes[0..<4]) == Self.magic else { throw .badEncoding("missing WEMB header") }
        guard bytes[4] == 1 else { throw .badEncoding("unknown version \(bytes[4])") }
        let idLength = Int(bytes[5])
        let floatsStart = 6 + idLength
        guard bytes.count == floatsStart + 4 * (1 + Self.dimension) else {
            throw .badEncoding("expected \(floatsStart + 4 * (1 + Self.dimension)) bytes, got \(bytes.count)")
        }
        guard let id = String(validating: bytes[6..<floatsStart], as: UTF8.self) else { throw .badEncoding("model id is not UTF-8") }
        var floats: [Float] = []
        floats.reserveCapacity(1 + Self.dimension)
        for i in 0..<(1 + Self.dimension) {
            let o = floatsStart + 4 * i
            let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            floats.append(Float(bitPattern: bits))
        }
        guard floats.allSatisfy(\.isFinite) else { throw .notFinite }
        let unit = Array(floats[1...])
        let norm = unit.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        guard abs(norm - 1) < 1e-3 else { throw .badEncoding("stored vector is not unit length (norm \(norm))") }
        self.values = unit
        self.modelID = id
        self.rawNorm = floats[0]
    }
}

public enum EmbeddingError: Error, Equatable, CustomStringConvertible, Sendable {
    case wrongDimension(Int)
    case notFinite
    case zeroVector
    case badEncoding(String)
    case modelMismatch(String, String)

    public var description: String {
        switch self {
        case .wrongDimension(let n): return "embedding has \(n) values; expected \(Embedding.dimension)"
        case .notFinite: return "embedding contains NaN or infinity"
        case .zeroVector: return "embedding is the zero vector"
        case .badEncoding(let why): return "stored embedding is unreadable: \(why)"
        case .modelMismatch(let a, let b): return "embeddings come from different models (\(a) vs \(b)) and cannot be compared"
        }
    }
}
