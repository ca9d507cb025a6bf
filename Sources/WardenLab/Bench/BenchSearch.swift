import CommandSupport
import WardenCLI
import ArgumentParser
import FaceKit
import Foundation
import Matching
import WardenCore

struct BenchSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Time 1:N search at 1k to 1M templates, against FAISS flat indexes.",
        discussion: """
        Builds galleries from real embeddings (photos from ../shared/faces, else the fixtures) \
        topped up with random unit vectors, then searches one query at a time on one thread, \
        k = 10, as a door does. Reports median and p99 latency, queries per second and memory \
        per template. With --peer-python, bench/peers/faiss_peer.py searches the same vectors \
        with FAISS IndexFlatIP and IndexFlatL2 in the same run; Warden's top-10 must equal \
        FAISS's exact top-10 for every query.
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Gallery sizes, comma-separated.") var sizes = "1000,10000,100000,1000000"
    @Option(help: "Queries per size (half real faces, half random).") var queries = 200
    @Option(help: "Real photos to embed for the gallery and queries.") var real = 120
    @Option(name: .customLong("peer-python"), help: "Python with faiss installed (bench/.venv/bin/python).") var peerPython: String?

    struct SizeResult: Codable {
        let templates: Int
        let realTemplates: Int
        let wardenLatencyMs: SampleStats
        let wardenQPS: Double
        let bytesPerTemplate: Double
        let faissIP: PeerResult?
        let faissL2: PeerResult?
        /// Warden QPS / FAISS IndexFlatIP QPS.
        let throughputRatioIP: Double?
        let top10IdenticalToFAISS: Bool?
        let mismatchedQueries: Int?
    }
    struct PeerResult: Codable { let latencyMs: SampleStats; let qps: Double }

    func run() throws {
        let sizeList = try sizes.split(separator: ",").map { s -> Int in
            guard let n = Int(s.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("bad size '\(s)'") }
            return n
        }
        let (realGallery, realQueries) = try realEmbeddings()
        log("\(realGallery.count) real gallery embeddings, \(realQueries.count) real queries")
        var rng = SplitMix64(seed: 42)
        let queryVectors = realQueries.prefix(queries / 2) + (0..<(queries - min(queries / 2, realQueries.count))).map { _ in randomUnit(&rng) }
        var results: [SizeResult] = []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-search-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        for n in sizeList {
            let before = currentRSSBytes()
            var gallery = Gallery()
            gallery.reserveCapacity(n)
            let realCount = min(realGallery.count, n)
            for i in 0..<n {
                try gallery.add(templateID: Int64(i), personID: Int64(i), unitVector: i < realCount ? realGallery[i] : randomUnit(&rng))
            }
            let bytes = Double(currentRSSBytes() - before) / Double(n)
            log("\(n) templates: searching \(queryVectors.count) queries")
            _ = gallery.search(queryVectors.first!, k: 10)  // warm-up
            var latencies: [Double] = []
            var tops: [[Int64]] = []
            let t0 = DispatchTime.now().uptimeNanoseconds
            for q in queryVectors {
                let (hits, ms) = milliseconds { gallery.search(q, k: 10) }
                latencies.append(ms)
                tops.append(hits.map(\.templateID))
            }
            let qps = Double(queryVectors.count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)

            var ip: PeerResult? = nil, l2: PeerResult? = nil, identical: Bool? = nil, mismatches: Int? = nil
            if let peerPython {
                let g = work.appendingPathComponent("gallery.f32"), qf = work.appendingPathComponent("queries.f32")
                try gallery.vectors.withUnsafeBytes { try Data($0).write(to: g) }
                try writeFloats(Array(queryVectors), to: qf)
                let peer = try runPeer(peerPython, gallery: g, queries: qf)
                ip = PeerResult(latencyMs: SampleStats(peer.IndexFlatIP.latency_ms), qps: peer.IndexFlatIP.qps)
                l2 = PeerResult(latencyMs: SampleStats(peer.IndexFlatL2.latency_ms), qps: peer.IndexFlatL2.qps)
                mismatches = zip(tops, peer.IndexFlatIP.top).filter { $0.0 != $0.1.map(Int64.init) }.count
                identical = mismatches == 0
            }
            results.append(SizeResult(templates: n, realTemplates: realCount, wardenLatencyMs: SampleStats(latencies), wardenQPS: qps,
                                      bytesPerTemplate: bytes, faissIP: ip, faissL2: l2, throughputRatioIP: ip.map { qps / $0.qps },
                                      top10IdenticalToFAISS: identical, mismatchedQueries: mismatches))
        }
        if global.json { try Output.json(results); return }
        print("1:N search, one query at a time, one thread, k = 10 (latency ms median / p99)")
        print("  templates   Warden            QPS      bytes/tpl   FAISS FlatIP      QPS      FlatL2 QPS  Warden/IP   top-10 = FAISS")
        for r in results {
            let w = "\(Output.fixed(r.wardenLatencyMs.median, 3)) / \(Output.fixed(r.wardenLatencyMs.p99, 3))"
            let f = r.faissIP.map { "\(Output.fixed($0.latencyMs.median, 3)) / \(Output.fixed($0.latencyMs.p99, 3))" } ?? "-"
            print("  " + pad(String(r.templates), 11) + pad(w, 18) + pad(Output.fixed(r.wardenQPS, 0), 9) + pad(Output.fixed(r.bytesPerTemplate, 0), 12)
                  + pad(f, 18) + pad(r.faissIP.map { Output.fixed($0.qps, 0) } ?? "-", 9) + pad(r.faissL2.map { Output.fixed($0.qps, 0) } ?? "-", 12)
                  + pad(r.throughputRatioIP.map { Output.fixed($0, 2) + "x" } ?? "-", 12)
                  + (r.top10IdenticalToFAISS.map { $0 ? "yes" : "NO (\(r.mismatchedQueries!) queries differ)" } ?? "-"))
        }
        print("(bytes/tpl is the resident-memory growth while building; small galleries round to pages. Scan kernel: \(Gallery.scanKernel))")
    }

    private struct Peer: Decodable {
        struct Index: Decodable { let latency_ms: [Double]; let qps: Double; let top: [[Int]] }
        let IndexFlatIP: Index
        let IndexFlatL2: Index
    }

    private func runPeer(_ python: String, gallery: URL, queries: URL) throws -> Peer {
        let data = try runPeerScript(python: python, script: "bench/peers/faiss_peer.py", arguments: ["--gallery", gallery.path, "--queries", queries.path])
        return try JSONDecoder().decode(Peer.self, from: data)
    }

    private func writeFloats(_ rows: [[Float]], to url: URL) throws {
        var data = Data(capacity: rows.count * 512)
        for r in rows { r.withUnsafeBytes { data.append(contentsOf: $0) } }
        try data.write(to: url)
    }

    /// Embeddings of real photos: the first part for the gallery, the rest as queries.
    private func realEmbeddings() throws -> (gallery: [[Float]], queries: [[Float]]) {
        let engine = try global.loadEngine()
        let shared = FaceDataset.shared
        let paths: [String]
        if FileManager.default.fileExists(atPath: shared.path) {
            paths = try FaceDataset(root: shared).identities().flatMap { $0.images.prefix(6) }.map(\.path)
        } else {
            paths = try FaceDataset(root: Checkout.fixtures).looseImages().map(\.path)
        }
        var out: [[Float]] = []
        for p in paths.prefix(real) {
            guard let image = try? RGBImage(contentsOf: p, limits: ImageLimits(strict: false)),
                  let face = try engine.detect(image, options: DetectionOptions(upsample: 0)).largest else { continue }
            out.append(try engine.embed(image, face: face).values)
        }
        // Alternate photos between gallery and queries, so queries include other photos of
        // enrolled people.
        return (out.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), out.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
    }

    private func log(_ s: String) { Output.note("bench: \(s)") }
}

/// A direction uniform on the sphere (normal components via Box-Muller, normalised).
func randomUnit(_ rng: inout SplitMix64) -> [Float] {
    var v = [Float](repeating: 0, count: 128)
    var i = 0
    while i < 128 {
        let u1 = max(Double.leastNonzeroMagnitude, Double(rng.next() >> 11) / Double(1 << 53)), u2 = Double(rng.next() >> 11) / Double(1 << 53)
        let r = (-2 * log(u1)).squareRoot()
        v[i] = Float(r * cos(2 * .pi * u2)); v[i + 1] = Float(r * sin(2 * .pi * u2))
        i += 2
    }
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return v.map { $0 / n }
}

/// Resident set size now (not the peak), from /proc/self/statm.
func currentRSSBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = s.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}
