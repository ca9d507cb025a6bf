import CommandSupport
import WardenCLI
import FaceKit
import Foundation
import Matching
import MatchingLab
import WardenCore

/// `warden eval DATASET --templates 1,3,5 [--jitter 10]`: how many templates per person,
/// chosen as a camera capture chooses them (`TemplateSelection`, from the photos
/// available), and whether jittered templates help, at fixed probes.
///
/// Identities with at least `maxCount + 1` usable photos take part. Every fourth (by the
/// seed) is left out of the gallery: its photos are non-mated searches. Each enrolled
/// identity's `maxCount` templates are chosen once, and each N uses the first N of them
/// (the choice is prefix-stable); its other photos are the mated searches, the same for
/// every N. So the rows differ only in the templates.
struct TemplateStudy {
    struct Row: Codable {
        let templates: Int
        let jitter: Int
        let fnirAtFPIR1e2: Double?
        let fnirAtFPIR1e1: Double?
        let rank1: Double
        /// 1:1 at the configured threshold, best of the person's templates.
        let fnmrAtVerify: Double
        let fmrAtVerify: Double
        /// 1:1 at the threshold lowered for this many templates (`verifyThreshold(templates:)`).
        let verifyPerTemplate: Double
        let fnmrAtVerifyPerTemplate: Double
        let fmrAtVerifyPerTemplate: Double
        /// 1:N at the threshold the configuration derives for this gallery, with the
        /// derivation as it stands (one comparison per person) and with each template
        /// counted as a comparison.
        let identifyThreshold: Double
        let fpirAtIdentify: Double
        let fnirAtIdentify: Double
        let identifyThresholdPerTemplate: Double
        let fpirAtIdentifyPerTemplate: Double
        let fnirAtIdentifyPerTemplate: Double
    }
    struct Report: Codable {
        let identities: Int
        let enrolled: Int
        let matedSearches: Int
        let nonMatedSearches: Int
        let verifyThreshold: Double
        let targetFPIR: Double
        let rows: [Row]
    }

    struct Photo { let vector: [Float]; let pose: FacePose; let quality: Double; let url: URL; let face: Face }

    let counts: [Int]
    let jitter: Int
    let seed: UInt64
    let thresholds: MatchThresholds

    func run(dataset: String, maxPerIdentity: Int, exclude: [String], engine: FaceEngine, progress: Bool) throws -> Report {
        let most = counts.max() ?? 1
        guard let identities = try? FaceDataset(root: URL(fileURLWithPath: dataset)).identities(skipping: { n in exclude.contains { n.contains($0) } }) else {
            throw CLIError("cannot read the dataset folder \(dataset)")
        }
        var photos: [String: [Photo]] = [:]
        var done = 0
        for identity in identities {
            for url in identity.images.prefix(maxPerIdentity) {
                guard let bytes = FileManager.default.contents(atPath: url.path),
                      let image = try? RGBImage(decoding: Array(bytes), limits: ImageLimits(strict: false)),
                      let faces = try? engine.detect(image, options: DetectionOptions(upsample: 1)), faces.count == 1,
                      let chip = try? engine.alignedChip(image, face: faces[0]), let e = try? engine.embed(chips: [chip]).first else { continue }
                let q = FaceQuality(face: faces[0], chip: chip)
                photos[identity.name, default: []].append(Photo(vector: e.values, pose: FacePose(faces[0].landmarks),
                                                                quality: q.selectionScore, url: url, face: faces[0]))
                done += 1
                if progress && done % 100 == 0 { Output.note("eval: measured \(done) photos") }
            }
        }
        let usable = photos.filter { $0.value.count > most }
        guard usable.count >= 4 else { throw CLIError("need at least 4 identities with \(most + 1) or more usable photos in \(dataset)") }
        var rng = SplitMix64(seed: seed)
        let names = usable.keys.sorted().shuffled(using: &rng)
        let leftOut = Set(names.enumerated().filter { $0.offset % 4 == 3 }.map(\.element))
        let enrolled = names.filter { !leftOut.contains($0) }.sorted()

        // Each enrolled identity's templates, chosen once; the rest of its photos are probes.
        var chosen: [String: [Int]] = [:]
        for n in enrolled {
            let c = usable[n]!.enumerated().map { TemplateSelection.Candidate(vector: $0.element.vector, pose: $0.element.pose, quality: $0.element.quality, tag: $0.offset) }
            chosen[n] = TemplateSelection.choose(c, count: most).map(\.candidate.tag)
        }
        // Jittered templates, computed once for the chosen photos.
        var jittered: [String: [[Float]]] = [:]
        if jitter > 1 {
            for n in enrolled {
                jittered[n] = try chosen[n]!.map { i in
                    let p = usable[n]![i]
                    let image = try RGBImage(contentsOf: p.url.path, limits: ImageLimits(strict: false))
                    return try engine.embedJittered(image, face: p.face, count: jitter, seed: seed &+ UInt64(i)).values
                }
            }
        }
        var mated: [(person: Int64, vector: [Float])] = []
        for (i, n) in enrolled.enumerated() {
            let skip = Set(chosen[n]!)
            for (j, p) in usable[n]!.enumerated() where !skip.contains(j) { mated.append((Int64(i + 1), p.vector)) }
        }
        let nonMated = names.filter(leftOut.contains).flatMap { usable[$0]!.map(\.vector) }

        var rows: [Row] = []
        for j in (jitter > 1 ? [1, jitter] : [1]) {
            for count in counts.sorted() {
                var gallery = Gallery()
                var templateID: Int64 = 1
                for (i, n) in enrolled.enumerated() {
                    let vectors = j > 1 ? jittered[n]! : chosen[n]!.map { usable[n]![$0].vector }
                    for v in vectors.prefix(count) { try gallery.add(templateID: templateID, personID: Int64(i + 1), unitVector: v); templateID += 1 }
                }
                rows.append(measure(gallery, people: enrolled.count, templates: gallery.count, mated: mated, nonMated: nonMated, count: count, jitter: j))
            }
        }
        return Report(identities: names.count, enrolled: enrolled.count, matedSearches: mated.count, nonMatedSearches: nonMated.count,
                      verifyThreshold: thresholds.verify, targetFPIR: thresholds.targetFPIR, rows: rows)
    }

    func measure(_ gallery: Gallery, people: Int, templates: Int, mated: [(person: Int64, vector: [Float])], nonMated: [[Float]], count: Int, jitter: Int) -> Row {
        var ranks: [(rank: Int, distance: Double)?] = []
        var own: [Double] = []
        // Every probe against every other person's best template: the 1:1 impostor scores.
        var impostor: [Double] = []
        for m in mated {
            let found = gallery.search(m.vector, k: people)
            ranks.append(found.firstIndex { $0.personID == m.person }.map { (rank: $0 + 1, distance: found[$0].distance) })
            own.append(found.first { $0.personID == m.person }?.distance ?? .infinity)
            impostor += found.filter { $0.personID != m.person }.map(\.distance)
        }
        var best: [Double] = []
        for v in nonMated {
            let found = gallery.search(v, k: people)
            if let b = found.first { best.append(b.distance) }
            impostor += found.map(\.distance)
        }
        func share(_ xs: [Double], _ test: (Double) -> Bool) -> Double { Double(xs.filter(test).count) / Double(max(1, xs.count)) }
        let tv = thresholds.verifyThreshold(templates: count)
        let ident = IdentificationScores(mated: ranks, nonMatedBest: best)
        let t1 = thresholds.identifyThreshold(people: people), tn = thresholds.identifyThreshold(people: templates)
        return Row(templates: count, jitter: jitter, fnirAtFPIR1e2: ident.fnir(atFPIR: 1e-2)?.fnir, fnirAtFPIR1e1: ident.fnir(atFPIR: 1e-1)?.fnir,
                   rank1: ident.rankAccuracy(1), fnmrAtVerify: share(own) { $0 > thresholds.verify }, fmrAtVerify: share(impostor) { $0 <= thresholds.verify },
                   verifyPerTemplate: tv, fnmrAtVerifyPerTemplate: share(own) { $0 > tv }, fmrAtVerifyPerTemplate: share(impostor) { $0 <= tv },
                   identifyThreshold: t1, fpirAtIdentify: ident.fpir(at: t1), fnirAtIdentify: ident.fnir(at: t1),
                   identifyThresholdPerTemplate: tn, fpirAtIdentifyPerTemplate: ident.fpir(at: tn), fnirAtIdentifyPerTemplate: ident.fnir(at: tn))
    }

    static func render(_ r: Report) -> String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
        var lines = ["Templates per person, chosen as a camera capture chooses them: \(r.enrolled) enrolled identities, \(r.identities - r.enrolled) left out; "
                     + "\(r.matedSearches) mated and \(r.nonMatedSearches) non-mated searches, the same for every row",
                     "1:1 threshold \(Output.fixed(r.verifyThreshold, 3)); 1:N target FPIR \(r.targetFPIR)", "",
                     "templates  jitter  FNIR@FPIR1e-2  FNIR@FPIR1e-1  rank-1   FNMR@1:1  FMR@1:1  | lowered 1:1  FNMR     FMR      || 1:N thr  FPIR    FNIR   | per-template thr  FPIR    FNIR"]
        func col(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        for row in r.rows {
            var cells: [String] = []
            cells.append(col(String(row.templates), 11))
            cells.append(col(String(row.jitter), 8))
            cells.append(col(pct(row.fnirAtFPIR1e2), 15))
            cells.append(col(pct(row.fnirAtFPIR1e1), 15))
            cells.append(col(pct(row.rank1), 9))
            cells.append(col(pct(row.fnmrAtVerify), 10))
            cells.append(col(pct(row.fmrAtVerify), 9))
            cells.append("| " + col(Output.fixed(row.verifyPerTemplate, 3), 12))
            cells.append(col(pct(row.fnmrAtVerifyPerTemplate), 9))
            cells.append(col(pct(row.fmrAtVerifyPerTemplate), 9) + "|| ")
            cells.append(col(Output.fixed(row.identifyThreshold, 3), 9))
            cells.append(col(pct(row.fpirAtIdentify), 8))
            cells.append(col(pct(row.fnirAtIdentify), 7))
            cells.append("| " + col(Output.fixed(row.identifyThresholdPerTemplate, 3), 17))
            cells.append(col(pct(row.fpirAtIdentifyPerTemplate), 8))
            cells.append(pct(row.fnirAtIdentifyPerTemplate))
            lines.append(cells.joined())
        }
        return lines.joined(separator: "\n")
    }
}
