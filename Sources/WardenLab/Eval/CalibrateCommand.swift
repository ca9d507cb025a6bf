import CommandSupport
import WardenCLI
import ArgumentParser
import FaceKit
import Foundation
import Matching
import MatchingLab
import OpenCVFaces
import WardenCore

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Set the matching thresholds from labelled faces: 1:1 to a target FMR, 1:N to a target FPIR, and the ambiguity margin.",
        discussion: """
        DATASET is a folder per identity, as for `warden eval` (same embedding cache).
        What is set, all from the dataset:
          1:1 threshold     the largest distance whose FMR on the impostor pairs is at
                            most --target-fmr
          impostor model    mean and spread of those impostor distances; the 1:N
                            threshold follows from it per gallery size at the target
                            FPIR, never above the 1:1 threshold
          1:N check         seeded galleries of --gallery-size people (default: those
                            enrolled now), searched by everyone left out; if more
                            strangers match than the target FPIR, the 1:N ceiling
                            comes down to where the data holds it
          ambiguity margin  the largest that turns away at most --margin-cost of
                            correct identifications

        Through a metric head (--metric-head, or the configured one) only identities the \
        head never trained on are used. Everything goes into <home>/matching.yaml with the \
        figures it came from, and the audit log records the change, so it shows which \
        calibration was in force. `warden run` takes it on start or SIGHUP.

        It refuses, saying why, when the data cannot support the target: estimating an \
        FMR of 1e-4 needs at least 30,000 impostor pairs (with no false match seen among \
        n pairs, the 95% upper bound on the rate is 3/n).

        Examples:
          warden calibrate ../shared/faces --target-fmr 1e-3
          warden calibrate /srv/site-faces --target-fmr 1e-4 --dry-run
          warden calibrate faces/ --target-fmr 1e-3 --metric-head heads/t.json
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Folder with one folder per identity.") var dataset: String
    @Option(help: "False-match rate to hold on impostor pairs.") var targetFMR = 1e-4
    @Option(help: "1:N: false-positive identification rate to hold as the gallery grows (default: keep the configured one).") var targetFPIR: Double?
    @Option(help: "Share of correct identifications the ambiguity margin may turn away.") var marginCost = 0.01
    @Option(help: "Gallery size to state the 1:N threshold and its measured FPIR for (default: the people enrolled now).") var gallerySize: Int?
    @Option(help: ArgumentHelp("Calibrate through this learned metric head and install it with the thresholds; 'none' removes the configured head.",
                               discussion: "Default: the head configured now, if any, so thresholds always match the space in force."))
    var metricHead: String?
    @Option(help: "Use at most this many images per identity.") var maxPerIdentity = 50
    @Option(help: "Skip identity folders whose name contains this (repeatable).") var exclude: [String] = []
    @Flag(help: "Show what would be set; change nothing.") var dryRun = false

    struct Report: Codable {
        let calibration: Calibration
        let previousVerify: Double
        let ambiguityMargin: Double
        let previousAmbiguityMargin: Double
        /// Searches whose nearest person was wrong yet within the 1:1 threshold, and how
        /// many of them the margin turns away.
        let misidentifications: Int
        let misidentificationsRefused: Int
        let correctIdentifications: Int
        let targetFPIR: Double
        let galleryPeople: Int
        let identifyThreshold: Double
        /// Open-set check of that threshold on the dataset: seeded galleries of that many
        /// identities; the false positives among the other identities' searches.
        let openSet: OpenSetCheck?
        let metricHead: String?
        let written: String?
        /// The second model's fusion fitted on the same faces, or why it was not.
        var fusion: FusedMatching? = nil
        var fusionProblem: String? = nil
    }

    func validate() throws {
        guard targetFMR > 0, targetFMR < 1 else { throw ValidationError("--target-fmr must be between 0 and 1") }
        if let f = targetFPIR, !(f > 0 && f < 1) { throw ValidationError("--target-fpir must be between 0 and 1") }
        if let n = gallerySize, n < 1 { throw ValidationError("--gallery-size must be at least 1") }
        guard (0..<0.5).contains(marginCost) else { throw ValidationError("--margin-cost must be at least 0 and below 0.5") }
    }

    func run() throws {
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }
        // The space to calibrate in: the head named here, none, or the one configured now.
        var headRef: MatchingConfiguration.HeadReference?
        var head: MetricHead?
        switch metricHead {
        case "none": break
        case let path?:
            let absolute = URL(fileURLWithPath: path).absoluteURL.standardized.path
            let loaded = try MetricHeadFile.load(absolute)
            (head, headRef) = (loaded.head, .init(file: absolute, sha256: loaded.sha256))
        case nil:
            headRef = try MatchingConfiguration.headReference(home: global.wardenHome)
            head = try global.metricHead()
        }

        var data = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: false,
                                         engine: engine, cache: global.wardenHome.path + "/cache", progress: !global.json)
        if let head {
            // Thresholds measured on people the head trained or stopped early on would be
            // optimistic: calibrate on the others only.
            let seen = Set(head.metadata.trainingIdentities + head.metadata.validationIdentities)
            data = data.only(Set(data.byIdentity.keys).subtracting(seen)).projected(through: head)
            guard data.byIdentity.count >= 2 else {
                throw CLIError("not calibrated: \(dataset) has no identities the metric head did not train on; calibrate on faces of other people")
            }
        }
        let scores = data.verificationScores(maxImpostorPairs: .max, seed: 1)
        let calibration: Calibration
        do { calibration = try Calibration.make(scores, targetFMR: targetFMR) } catch { throw CLIError("not calibrated: \(error.description)") }
        let margin = ambiguity(data, threshold: calibration.verify)

        var base = try global.thresholds()
        let previous = base
        if let targetFPIR { base.targetFPIR = targetFPIR }
        let dataset = URL(fileURLWithPath: self.dataset).absoluteURL.standardized.path
        let at = ISO8601DateFormatter().string(from: Date())
        var thresholds = calibration.applied(to: base, source: "warden calibrate \(dataset) at \(at)", ambiguityMargin: margin.margin)
        let people = gallerySize ?? max(1, (try? global.openDatabase(readOnly: true, ownHome: true).people.list(status: .active).count) ?? 0)
        let modelThreshold = thresholds.identifyThreshold(people: people)
        let fpir = openSet(data, people: people, modelThreshold: modelThreshold, target: thresholds.targetFPIR)
        // Where the data shows the model's 1:N threshold letting more strangers through
        // than the target, the ceiling comes down to what the data supports.
        if let e = fpir?.supportedThreshold, e < thresholds.identifyCeiling { thresholds.identifyCeiling = e }
        let identifyThreshold = thresholds.identifyThreshold(people: people)
        // The second model, when installed (and no head): each model's impostor distances
        // and the fused score's, fitted on the same faces.
        let fusion: (matching: FusedMatching?, problem: String?) = head == nil
            ? try fitFusion(firstSet: data, engine: engine)
            : (nil, "a learned metric head is configured: the fusion applies to dlib's own distances")
        let fusionNote: String = fusion.matching.map { "fitted on \($0.fusedImpostors.source)" } ?? ("none: " + (fusion.problem ?? ""))
        var written: String? = nil
        if !dryRun {
            let record = MatchingConfiguration.CalibrationRecord(
                dataset: dataset, at: at, model: engine.modelID + (head.map { "+head:" + $0.weightsDigest } ?? ""),
                images: data.images - data.failures.count, target_fmr: targetFMR,
                fmr: calibration.fmr, fnmr: calibration.fnmr, genuine_pairs: calibration.genuinePairs, impostor_pairs: calibration.impostorPairs)
            // Audited first: a calibration whose record cannot be written is not installed.
            try global.recordAdmin("admin.calibrate", by: op.resolved, subject: "matching", detail: [
                "dataset": dataset, "target_fmr": String(targetFMR), "verify": String(format: "%.4f", calibration.verify),
                "previous_verify": String(format: "%.4f", previous.verify), "fmr": String(calibration.fmr), "fnmr": String(calibration.fnmr),
                "impostor_pairs": String(calibration.impostorPairs), "genuine_pairs": String(calibration.genuinePairs),
                "ambiguity_margin": String(format: "%.4f", margin.margin), "target_fpir": String(thresholds.targetFPIR),
                "metric_head": headRef.map { "\($0.file) sha256:\($0.sha256)" } ?? "none",
                "fusion": fusionNote,
            ])
            do { try MatchingConfiguration.write(thresholds, calibration: record, head: headRef, fusion: fusion.matching, home: global.wardenHome) } catch {
                try? global.recordAdmin("admin.calibrate_failed", by: op.resolved, subject: "matching", detail: ["reason": "\(error)"])
                throw error
            }
            written = global.wardenHome.file(MatchingConfiguration.fileName)
        }
        let report = Report(calibration: calibration, previousVerify: previous.verify, ambiguityMargin: margin.margin,
                            previousAmbiguityMargin: previous.ambiguityMargin, misidentifications: margin.wrong, misidentificationsRefused: margin.wrongRefused,
                            correctIdentifications: margin.correct, targetFPIR: thresholds.targetFPIR, galleryPeople: people,
                            identifyThreshold: identifyThreshold, openSet: fpir, metricHead: headRef?.file, written: written,
                            fusion: fusion.matching, fusionProblem: fusion.problem)
        if global.json { try Output.json(report); return }
        let c = calibration
        print("""
        1:1 threshold \(Output.fixed(c.verify, 4)) (was \(Output.fixed(previous.verify, 4))): FMR \(String(format: "%.2e", c.fmr)) \
        (target \(String(format: "%.0e", targetFMR))), FNMR \(String(format: "%.2f%%", c.fnmr * 100)) \
        on \(c.genuinePairs) genuine and \(c.impostorPairs) impostor pairs
        impostor model: mean \(Output.fixed(c.impostorMean, 4)), sd \(Output.fixed(c.impostorStandardDeviation, 4))
        1:N threshold for a gallery of \(people)\(gallerySize == nil ? " (the people enrolled now)" : ""): \(Output.fixed(identifyThreshold, 4)) \
        (target FPIR \(String(format: "%.0e", thresholds.targetFPIR)); never above the 1:1 threshold)
        \(fpir.map { describe($0, target: thresholds.targetFPIR, final: identifyThreshold) } ?? "  not measured: the dataset needs more identities than the gallery size")
        ambiguity margin \(Output.fixed(margin.margin, 4)) (was \(Output.fixed(previous.ambiguityMargin, 4))): turns away at most \
        \(String(format: "%.1f%%", marginCost * 100)) of \(margin.correct) correct identifications, and \(margin.wrongRefused) of \
        \(margin.wrong) where the nearest person within the 1:1 threshold was the wrong one
        metric head: \(headRef.map { "\($0.file) (calibrated on the \(data.byIdentity.count) identities it never trained on)" } ?? "none (raw embeddings)")
        """)
        if let f = fusion.matching {
            let parts = f.fusion.models.sorted { $0.key < $1.key }.map { "\($0.key) \(Output.fixed($0.value.mean, 4)) sd \(Output.fixed($0.value.standardDeviation, 4))" }
            print("fusion (second model): impostor distances \(parts.joined(separator: ", ")); fused sd \(Output.fixed(f.fusedImpostors.standardDeviation, 4)), fitted on \(f.fusedImpostors.source)")
        } else if let why = fusion.problem {
            print("fusion: not fitted: \(why)")
        }
        print(written.map { "written to \($0) and recorded in the audit log" } ?? "dry run: nothing changed")
    }

    /// The fusion fitted on the dataset's faces (both models on the same faces), or why not.
    private func fitFusion(firstSet: EmbeddingSet, engine: FaceEngine) throws -> (matching: FusedMatching?, problem: String?) {
        let second: SFaceRecognizer
        do {
            let models = try global.modelLocator.locate(requiring: [.landmarks68])
            second = try SFaceRecognizer(locator: global.recognitionModelLocator, points: try Dlib68Points(models: models))
        } catch let e as RecognitionModelError { return (nil, e.description) } catch { return (nil, "\(error)") }
        let set = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: false, engine: engine,
                                        recognizer: second, cache: global.wardenHome.path + "/cache", progress: !global.json)
        let items = FusionStudy.pairedItems(first: firstSet, second: set)
        guard Set(items.map(\.identity)).count >= 2 else { return (nil, "fewer than two identities have faces both models embed") }
        let dataset = URL(fileURLWithPath: self.dataset).absoluteURL.standardized.path
        return (try FusionStudy.fitFusion(items, firstID: engine.modelID, secondID: second.modelID, source: "\(items.count) images of \(dataset)"), nil)
    }

    /// The 1:N threshold checked open-set on the dataset.
    struct OpenSetCheck: Codable {
        let modelThreshold: Double
        /// FPIR measured at the model's threshold, with its 95% upper bound.
        let fpirAtModel: Double
        let upper95AtModel: Double
        let falsePositivesAtModel: Int
        let searches: Int
        let galleries: Int
        /// The largest threshold whose measured FPIR is at most the target, when the
        /// searches can support the target (at least 3/target of them).
        let supportedThreshold: Double?
        let fpirAtSupported: Double?
    }

    /// Seeded draws of `people` identities enroll their first photo; every photo of the
    /// identities left out searches, and a false positive is a best match within the
    /// threshold. Nil when the dataset has no identity to leave out.
    private func openSet(_ data: EmbeddingSet, people: Int, modelThreshold: Double, target: Double, draws: Int = 20) -> OpenSetCheck? {
        let names = data.identities
        guard people < names.count else { return nil }
        var rng = SplitMix64(seed: 1)
        var best: [Double] = []
        for _ in 0..<draws {
            let order = names.shuffled(using: &rng)
            let gallery = data.galleryOfFirstPhotos(Array(order.prefix(people)))
            for n in order.dropFirst(people) {
                for v in data.byIdentity[n]! { if let b = gallery.search(v, k: 1).first { best.append(b.distance) } }
            }
        }
        let scores = IdentificationScores(mated: [], nonMatedBest: best)
        let hits = best.filter { $0 <= modelThreshold }.count
        let supported = Double(best.count) >= 3 / target ? scores.threshold(forFPIR: target) : nil
        return OpenSetCheck(modelThreshold: modelThreshold, fpirAtModel: scores.fpir(at: modelThreshold), upper95AtModel: wilsonInterval(hits, best.count).high,
                            falsePositivesAtModel: hits, searches: best.count, galleries: draws,
                            supportedThreshold: supported, fpirAtSupported: supported.map(scores.fpir(at:)))
    }

    private func describe(_ o: OpenSetCheck, target: Double, final: Double) -> String {
        func e(_ x: Double) -> String { String(format: "%.2e", x) }
        var line = "  on this data (\(o.searches) non-mated searches, \(o.galleries) galleries): the impostor model's \(Output.fixed(o.modelThreshold, 4)) "
            + "gave FPIR \(e(o.fpirAtModel)) (\(o.falsePositivesAtModel) false positives; 95% up to \(e(o.upper95AtModel)))"
        if final < o.modelThreshold, let f = o.fpirAtSupported {
            line += ", over the target: the 1:N ceiling is set to \(Output.fixed(final, 4)), where it measured \(e(f))"
        } else if o.supportedThreshold == nil {
            line += "; too few searches to check \(e(target)) (\(Int((3 / target).rounded(.up))) needed)"
        }
        return line
    }

    /// Every identity enrolls its first image; its other images search the gallery. The
    /// margin comes from the correct answers' gaps to the next person (Calibration).
    private func ambiguity(_ data: EmbeddingSet, threshold: Double) -> (margin: Double, correct: Int, wrong: Int, wrongRefused: Int) {
        let names = data.identities
        let gallery = data.galleryOfFirstPhotos(names)
        var correctGaps: [Double] = [], wrongGaps: [Double] = []
        for (i, n) in names.enumerated() {
            for v in data.byIdentity[n]!.dropFirst() {
                let found = gallery.search(v, k: 2)
                guard found.count == 2, found[0].distance <= threshold else { continue }
                let gap = found[1].distance - found[0].distance
                if found[0].personID == Int64(i + 1) { correctGaps.append(gap) } else { wrongGaps.append(gap) }
            }
        }
        let m = Calibration.ambiguityMargin(correctGaps: correctGaps, cost: marginCost)
        return (m, correctGaps.count, wrongGaps.count, wrongGaps.filter { $0 < m }.count)
    }
}
