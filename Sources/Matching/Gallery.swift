import CSearchKernels
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
/// Layout, per template: the unit vector as 128 contiguous Float32 (512 bytes); the same
/// vector quantised to 128 Int8 with its scale and L1 norm (136 bytes); the (template,
/// person) ids (16 bytes); and a template-to-row map entry (about 40 bytes with dictionary
/// overhead): about 700 bytes, so 1,000,000 templates take about 0.7 GB.
///
/// Search is exact. Large galleries are scanned in two passes: a compact pass over the Int8
/// codes (a quarter of the memory traffic of Float32) gives every row an approximate dot
/// product with a proven error bound; only rows whose upper bound can still reach the
/// current top are re-scored exactly in Float32. The result is identical to scoring every
/// row in Float32 (tested), at a fraction of the memory bandwidth.
///
/// Updates are incremental: `add` appends a row, `remove` moves the last row into the hole
/// (O(1) per template), so enrolling or removing never reloads the gallery.
///
/// A value type: copies are cheap until written (copy-on-write arrays), so a reader can hold
/// a snapshot while a writer updates the next one.
public struct Gallery: Sendable {
    public let modelID: String
    /// A learned metric, when one is configured: every vector that comes in (templates
    /// added, probes searched or verified) is projected through it first, so the rows are
    /// unit vectors of the learned space and callers only ever handle raw embeddings.
    public let head: MetricHead?
    public private(set) var vectors: [Float] = []
    public private(set) var entries: [GalleryEntry] = []
    private var rowOfTemplate: [Int64: Int] = [:]
    /// Int8 codes, 128 a row: round(v / scale), scale = max|v| / 127.
    private var codes: [Int8] = []
    private var scales: [Float] = []
    /// Σ|scale · code| per row: the L1 norm of the dequantised vector, for the error bound.
    private var codeL1: [Float] = []

    /// Galleries smaller than this are scanned in Float32 only: the two-pass scan's set-up
    /// costs more than it saves.
    static let compactScanMinimum = 4096

    public static let dimension = Embedding.dimension

    public init(modelID: String = ModelSet.recognitionModelID, head: MetricHead? = nil) { self.modelID = modelID; self.head = head }

    /// A raw embedding in the space the rows live in.
    @inline(__always)
    func inSpace(_ v: [Float]) -> [Float] { head.map { $0.project(v) } ?? v }

    /// Templates added by template update. They may decide a match only for a probe that
    /// already matches the person's enrolled templates at the 1:1 threshold, so they can
    /// never make someone match who did not (TemplateUpdateRule).
    public private(set) var addedTemplates: Set<Int64> = []
    public mutating func markAdded(templateID: Int64) { if rowOfTemplate[templateID] != nil { addedTemplates.insert(templateID) } }

    public var count: Int { entries.count }
    public var personCount: Int { Set(entries.map(\.personID)).count }

    public mutating func add(templateID: Int64, personID: Int64, embedding: Embedding) throws(GalleryError) {
        guard embedding.modelID == modelID else { throw .modelMismatch(gallery: modelID, template: embedding.modelID) }
        try add(templateID: templateID, personID: personID, unitVector: embedding.values)
    }

    /// Adds an already unit-length raw vector (for bulk loads and benchmarks).
    public mutating func add(templateID: Int64, personID: Int64, unitVector raw: [Float]) throws(GalleryError) {
        precondition(raw.count == Self.dimension)
        let unitVector = inSpace(raw)
        guard rowOfTemplate[templateID] == nil else { throw .duplicateTemplate(templateID) }
        rowOfTemplate[templateID] = entries.count
        entries.append(GalleryEntry(templateID: templateID, personID: personID))
        vectors.append(contentsOf: unitVector)
        let q = Quantized(unitVector)
        codes.append(contentsOf: q.codes)
        scales.append(q.scale)
        codeL1.append(q.l1)
    }

    /// The instruction set of the Int8 scan on this CPU ("avx2", "sse2" or "scalar").
    public static var scanKernel: String { String(cString: csk_int8_kernel_name()) }

    public mutating func reserveCapacity(_ n: Int) {
        vectors.reserveCapacity(n * Self.dimension)
        codes.reserveCapacity(n * Self.dimension)
        scales.reserveCapacity(n)
        codeL1.reserveCapacity(n)
        entries.reserveCapacity(n)
        rowOfTemplate.reserveCapacity(n)
    }

    /// Removes one template; returns whether it was there.
    @discardableResult
    public mutating func remove(templateID: Int64) -> Bool {
        guard let row = rowOfTemplate.removeValue(forKey: templateID) else { return false }
        addedTemplates.remove(templateID)
        let last = entries.count - 1
        if row != last {
            let moved = entries[last]
            entries[row] = moved
            rowOfTemplate[moved.templateID] = row
            let d = Self.dimension
            vectors.withUnsafeMutableBufferPointer { v in
                for i in 0..<d { v[row * d + i] = v[last * d + i] }
            }
            codes.withUnsafeMutableBufferPointer { c in
                for i in 0..<d { c[row * d + i] = c[last * d + i] }
            }
            scales[row] = scales[last]
            codeL1[row] = codeL1[last]
        }
        entries.removeLast()
        vectors.removeLast(Self.dimension)
        codes.removeLast(Self.dimension)
        scales.removeLast()
        codeL1.removeLast()
        return true
    }

    /// Removes every template of a person; returns how many.
    @discardableResult
    public mutating func remove(personID: Int64) -> Int {
        let ids = entries.filter { $0.personID == personID }.map(\.templateID)
        for id in ids { remove(templateID: id) }
        return ids.count
    }

    /// 1:1: a raw probe against one person's templates, in the gallery's space.
    public func verify(_ query: [Float], person personID: Int64, using verifier: Verifier) -> Verification {
        let q = inSpace(query)
        let all = templates(of: personID)
        let v = verifier.verify(q, against: all)
        guard let t = v.templateID, addedTemplates.contains(t) else { return v }
        // The closest is an added template: it may decide only if the enrolled ones
        // already match at the 1:1 threshold; else they alone decide.
        let enrolled = verifier.verify(q, against: all.filter { !addedTemplates.contains($0.templateID) })
        return (enrolled.distance ?? .infinity) <= verifier.thresholds.verify ? v : enrolled
    }

    /// `search`, with added templates kept to probes that already match the person's
    /// enrolled templates within `alreadyMatches`: otherwise the person is ranked by the
    /// enrolled templates alone (and left out if they have none).
    public func search(_ raw: [Float], k: Int, alreadyMatches: Double) -> [PersonMatch] {
        let found = search(raw, k: k)
        guard !addedTemplates.isEmpty, found.contains(where: { addedTemplates.contains($0.templateID) }) else { return found }
        let q = inSpace(raw)
        var out: [PersonMatch] = []
        for m in found {
            guard addedTemplates.contains(m.templateID) else { out.append(m); continue }
            let enrolled = templates(of: m.personID).filter { !addedTemplates.contains($0.templateID) }
                .map { (id: $0.templateID, d: DistanceMetric.euclidean.distance(q, $0.vector)) }.min { $0.d < $1.d }
            guard let e = enrolled else { continue }
            out.append(e.d <= alreadyMatches ? m : PersonMatch(personID: m.personID, templateID: e.id, distance: e.d))
        }
        return out.sorted { $0.distance < $1.distance }
    }

    /// A person's rows, in the gallery's space (projected when a head is configured).
    public func templates(of personID: Int64) -> [(templateID: Int64, vector: [Float])] {
        entries.indices.filter { entries[$0].personID == personID }.map { row in
            (entries[row].templateID, Array(vectors[(row * Self.dimension)..<((row + 1) * Self.dimension)]))
        }
    }

    /// The `k` nearest *people*, each at the distance of their closest template, nearest
    /// first. Exact.
    public func search(_ raw: [Float], k: Int) -> [PersonMatch] {
        precondition(raw.count == Self.dimension)
        let query = inSpace(raw)
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

    /// The `count` rows with the largest dot product with `query`, best first. Exact.
    func nearestRows(_ query: [Float], count: Int) -> [(row: Int, dot: Float)] {
        entries.count >= Self.compactScanMinimum ? nearestRowsTwoPass(query, count: count) : nearestRowsFloat(query, count: count)
    }

    /// Scores every row in Float32.
    func nearestRowsFloat(_ query: [Float], count: Int) -> [(row: Int, dot: Float)] {
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

extension Gallery {
    /// Two passes: Int8 bounds for every row, then Float32 for the rows that may rank.
    ///
    /// With v = s_v·q + a (|a_i| ≤ s_v/2) and x = s_x·p + b (|b_i| ≤ s_x/2):
    ///   v·x − s_v·s_x·(q·p) = s_v·q·b + a·x, so
    ///   |v·x − s_v·s_x·(q·p)| ≤ (s_x/2)·‖s_v·q‖₁ + (s_v/2)·‖x‖₁.
    /// Let τ be the count-th largest lower bound. At least `count` rows have an exact dot of
    /// τ or more, so every row of the true top `count` has an exact dot, hence an upper
    /// bound, of at least τ; rows with a smaller upper bound are skipped safely.
    func nearestRowsTwoPass(_ query: [Float], count: Int) -> [(row: Int, dot: Float)] {
        let q = Quantized(query)
        let queryL1 = query.reduce(Float(0)) { $0 + abs($1) }
        let n = entries.count
        let block = 4096
        var lower = TopK(capacity: count)
        var candidates: [(row: Int, upper: Float)] = []
        candidates.reserveCapacity(4 * count + 64)
        // Float rounding in the bound arithmetic itself is far below this slack.
        let slack: Float = 1e-4
        var dots = [Int32](repeating: 0, count: block)
        codes.withUnsafeBufferPointer { c in
            q.codes.withUnsafeBufferPointer { qc in
                scales.withUnsafeBufferPointer { sv in
                    codeL1.withUnsafeBufferPointer { l1 in
                        dots.withUnsafeMutableBufferPointer { out in
                            var start = 0
                            while start < n {
                                let rows = min(block, n - start)
                                csk_int8_dot128_scan(c.baseAddress! + start * Self.dimension, rows, qc.baseAddress!, out.baseAddress!)
                                for i in 0..<rows {
                                    let row = start + i
                                    let s = sv[row]
                                    let approx = Float(out[i]) * s * q.scale
                                    let bound = 0.5 * q.scale * l1[row] + 0.5 * s * queryL1 + slack
                                    lower.offer(row: row, score: approx - bound)
                                    let upper = approx + bound
                                    if upper >= lower.threshold { candidates.append((row, upper)) }
                                }
                                start += rows
                            }
                        }
                    }
                }
            }
        }
        let tau = lower.threshold
        var best = TopK(capacity: count)
        vectors.withUnsafeBufferPointer { v in
            query.withUnsafeBufferPointer { qv in
                for cand in candidates where cand.upper >= tau {
                    best.offer(row: cand.row, score: DotProduct.unit128(qv.baseAddress!, v.baseAddress! + cand.row * Self.dimension))
                }
            }
        }
        return best.sortedDescending()
    }
}

/// A vector quantised to Int8 with one scale.
struct Quantized {
    var codes: [Int8]
    var scale: Float
    /// ‖scale · codes‖₁
    var l1: Float

    init(_ v: [Float]) {
        let maxAbs = v.reduce(Float(0)) { max($0, abs($1)) }
        scale = maxAbs > 0 ? maxAbs / 127 : 1
        var c = [Int8](repeating: 0, count: v.count)
        var sum: Int = 0
        for i in v.indices {
            let x = Int8(max(-127, min(127, (v[i] / scale).rounded())))
            c[i] = x
            sum += abs(Int(x))
        }
        codes = c
        l1 = Float(sum) * scale
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
