import FaceKit

/// Which template of which person a gallery row holds.
public struct GalleryEntry: Sendable, Equatable, Hashable {
    public let templateID: Int64
    public let personID: Int64
    public init(templateID: Int64, personID: Int64) { self.templateID = templateID; self.personID = personID }
}

/// A person's best match in a search.
public struct PersonMatch: Sendable, Equatable, Codable {
    public let personID: Int64
    public let templateID: Int64
    /// Euclidean distance between unit vectors, in [0, 2].
    public let distance: Double
}

public enum GalleryError: Error, Equatable, CustomStringConvertible, Sendable {
    case modelMismatch(gallery: String, template: String)
    case duplicateTemplate(Int64)

    public var description: String {
        switch self {
        case .modelMismatch(let g, let t): return "template from model \(t) cannot join a gallery of \(g) templates"
        case .duplicateTemplate(let id): return "template #\(id) is already in the gallery"
        }
    }
}

/// The in-memory search index for 1:N identification.
///
/// Layout: one contiguous `[Float]` of `count x 128` unit vectors (512 bytes a template),
/// plus a parallel array of (template, person) ids (16 bytes) and a template-to-row map
/// (about 40 bytes with dictionary overhead): about 570 bytes a template, so 1,000,000
/// templates take about 0.57 GB. Search is exact: every row is scored.
///
/// Updates are incremental: `add` appends a row, `remove` moves the last row into the hole
/// (O(1) per template), so enrolling or removing never reloads the gallery.
///
/// A value type: copies are cheap until written (copy-on-write arrays), so a reader can hold
/// a snapshot while a writer updates the next one.
public struct Gallery: Sendable {
    public let modelID: String
    public private(set) var vectors: [Float] = []
    public private(set) var entries: [GalleryEntry] = []
    private var rowOfTemplate: [Int64: Int] = [:]

    public static let dimension = Embedding.dimension

    public init(modelID: String = ModelSet.recognitionModelID) { self.modelID = modelID }

    public var count: Int { entries.count }
    public var personCount: Int { Set(entries.map(\.personID)).count }

    public mutating func add(templateID: Int64, personID: Int64, embedding: Embedding) throws(GalleryError) {
        guard embedding.modelID == modelID else { throw .modelMismatch(gallery: modelID, template: embedding.modelID) }
        try add(templateID: templateID, personID: personID, unitVector: embedding.values)
    }

    /// Adds an already unit-length vector (for bulk loads and benchmarks).
    public mutating func add(templateID: Int64, personID: Int64, unitVector: [Float]) throws(GalleryError) {
        precondition(unitVector.count == Self.dimension)
        guard rowOfTemplate[templateID] == nil else { throw .duplicateTemplate(templateID) }
        rowOfTemplate[templateID] = entries.count
        entries.append(GalleryEntry(templateID: templateID, personID: personID))
        vectors.append(contentsOf: unitVector)
    }

    public mutating func reserveCapacity(_ n: Int) {
        vectors.reserveCapacity(n * Self.dimension)
        entries.reserveCapacity(n)
        rowOfTemplate.reserveCapacity(n)
    }

    /// Removes one template; returns whether it was there.
    @discardableResult
    public mutating func remove(templateID: Int64) -> Bool {
        guard let row = rowOfTemplate.removeValue(forKey: templateID) else { return false }
        let last = entries.count - 1
        if row != last {
            let moved = entries[last]
            entries[row] = moved
            rowOfTemplate[moved.templateID] = row
            let d = Self.dimension
            vectors.withUnsafeMutableBufferPointer { v in
                for i in 0..<d { v[row * d + i] = v[last * d + i] }
            }
        }
        entries.removeLast()
        vectors.removeLast(Self.dimension)
        return true
    }

    /// Removes every template of a person; returns how many.
    @discardableResult
    public mutating func remove(personID: Int64) -> Int {
        let ids = entries.filter { $0.personID == personID }.map(\.templateID)
        for id in ids { remove(templateID: id) }
        return ids.count
    }

    public func templates(of personID: Int64) -> [(templateID: Int64, vector: [Float])] {
        entries.indices.filter { entries[$0].personID == personID }.map { row in
            (entries[row].templateID, Array(vectors[(row * Self.dimension)..<((row + 1) * Self.dimension)]))
        }
    }

    /// The `k` nearest *people*, each at the distance of their closest template, nearest
    /// first. Exact.
    public func search(_ query: [Float], k: Int) -> [PersonMatch] {
        precondition(query.count == Self.dimension)
        guard k > 0, !entries.isEmpty else { return [] }
        // A person's best template ranks above their others, so the k nearest people are
        // all among the nearest templates once those cover k distinct people. Start with
        // 4k templates and widen only if a few people hold most of them.
        var want = min(entries.count, max(4 * k, 16))
        while true {
            let rows = nearestRows(query, count: want)
            var seen = Set<Int64>()
            var result: [PersonMatch] = []
            for (row, dot) in rows {
                let e = entries[row]
                guard seen.insert(e.personID).inserted else { continue }
                result.append(PersonMatch(personID: e.personID, templateID: e.templateID, distance: Self.distance(fromDot: dot)))
                if result.count == k { return result }
            }
            if want == entries.count { return result }
            want = min(entries.count, want * 4)
        }
    }

    /// Unit vectors: ‖a−b‖² = 2 − 2a·b.
    @inline(__always)
    static func distance(fromDot dot: Float) -> Double { Double(max(0, 2 - 2 * dot)).squareRoot() }

    /// The `count` rows with the largest dot product with `query`, best first.
    func nearestRows(_ query: [Float], count: Int) -> [(row: Int, dot: Float)] {
        var best = TopK(capacity: count)
        vectors.withUnsafeBufferPointer { v in
            query.withUnsafeBufferPointer { q in
                let n = entries.count
                for row in 0..<n {
                    let dot = DotProduct.unit128(q.baseAddress!, v.baseAddress! + row * Self.dimension)
                    best.offer(row: row, score: dot)
                }
            }
        }
        return best.sortedDescending()
    }
}

/// Keeps the `capacity` highest scores seen, with a min-heap so a rejected candidate costs
/// one comparison.
struct TopK {
    let capacity: Int
    private var heap: [(row: Int, dot: Float)] = []

    init(capacity: Int) { self.capacity = capacity; heap.reserveCapacity(capacity) }

    var threshold: Float { heap.count < capacity ? -.infinity : heap[0].dot }

    @inline(__always)
    mutating func offer(row: Int, score: Float) {
        if heap.count < capacity {
            heap.append((row, score))
            siftUp(heap.count - 1)
        } else if score > heap[0].dot {
            heap[0] = (row, score)
            siftDown(0)
        }
    }

    func sortedDescending() -> [(row: Int, dot: Float)] {
        heap.sorted { $0.dot != $1.dot ? $0.dot > $1.dot : $0.row < $1.row }
    }

    private mutating func siftUp(_ i: Int) {
        var c = i
        while c > 0 {
            let p = (c - 1) / 2
            guard heap[c].dot < heap[p].dot else { break }
            heap.swapAt(c, p); c = p
        }
    }

    private mutating func siftDown(_ i: Int) {
        var p = i
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < heap.count, heap[l].dot < heap[m].dot { m = l }
            if r < heap.count, heap[r].dot < heap[m].dot { m = r }
            if m == p { return }
            heap.swapAt(p, m); p = m
        }
    }
}

enum DotProduct {
    /// Dot product of two 128-float vectors, eight lanes at a time.
    @inline(__always)
    static func unit128(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i < 128 * 4 {
            acc0 += ra.loadUnaligned(fromByteOffset: i, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: i + 32, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i + 32, as: SIMD8<Float>.self)
            acc2 += ra.loadUnaligned(fromByteOffset: i + 64, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i + 64, as: SIMD8<Float>.self)
            acc3 += ra.loadUnaligned(fromByteOffset: i + 96, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i + 96, as: SIMD8<Float>.self)
            i += 128
        }
        return ((acc0 + acc1) + (acc2 + acc3)).sum()
    }
}
