import ArgumentParser
import FaceKit
import Foundation
import Matching

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Set the 1:1 threshold and the impostor model from labelled faces, to a target false-match rate.",
        discussion: """
        DATASET is a folder per identity, as for `warden eval` (and uses the same embedding \
        cache). The 1:1 threshold becomes the largest distance whose false-match rate on the \
        dataset's impostor pairs is at most --target-fmr; the impostor model (mean and \
        spread of impostor distances) is fitted to the same pairs, and the 1:N threshold \
        follows from it for each gallery size at the configured target FPIR (shown for the \
        people enrolled now). Both go into <home>/matching.yaml with the figures they came \
        from, and the change is recorded in the audit log, so the log shows which \
        calibration was in force. `warden run` takes it on start or SIGHUP.

        It refuses, saying why, when the data cannot support the target: estimating an FMR \
        of 1e-4 needs at least 30,000 impostor pairs (with no false match seen among n \
        pairs, the 95% upper bound on the rate is 3/n).

        Examples:
          warden calibrate ../shared/faces --target-fmr 1e-3
          warden calibrate /srv/site-faces --target-fmr 1e-4 --dry-run
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption
    @Argument(help: "Folder with one folder per identity.") var dataset: String
    @Option(help: "False-match rate to hold on impostor pairs.") var targetFMR = 1e-4
    @Option(help: "Use at most this many images per identity.") var maxPerIdentity = 50
    @Option(help: "Skip identity folders whose name contains this (repeatable).") var exclude: [String] = []
    @Flag(help: "Show what would be set; change nothing.") var dryRun = false

    struct Report: Codable {
        let calibration: Calibration
        let previousVerify: Double
        let enrolledPeople: Int
        let identifyThreshold: Double
        let written: String?
    }

    func run() throws {
        guard targetFMR > 0, targetFMR < 1 else { throw CLIError("--target-fmr must be between 0 and 1") }
        let engine: FaceEngine
        do { engine = try FaceEngine(locator: global.modelLocator) } catch { throw CLIError(error.description) }
        let data = try EmbeddingSet.load(dataset: dataset, maxPerIdentity: maxPerIdentity, exclude: exclude, cropped: false,
                                         engine: engine, cache: global.wardenHome.path + "/cache", progress: !global.json)
        let scores = data.verificationScores(maxImpostorPairs: .max, seed: 1)
        let calibration: Calibration
        do { calibration = try Calibration.make(scores, targetFMR: targetFMR) } catch { throw CLIError("not calibrated: \(error.description)") }

        let base = try global.thresholds()
        let dataset = URL(fileURLWithPath: self.dataset).absoluteURL.standardized.path
        let at = ISO8601DateFormatter().string(from: Date())
        let thresholds = calibration.applied(to: base, source: "warden calibrate \(dataset) at \(at)")
        let people = (try? global.openDatabase().people.list(status: .active).count) ?? 0
        var written: String? = nil
        if !dryRun {
            let record = MatchingConfiguration.CalibrationRecord(
                dataset: dataset, at: at, model: engine.modelID, images: data.images - data.failures.count, target_fmr: targetFMR,
                fmr: calibration.fmr, fnmr: calibration.fnmr, genuine_pairs: calibration.genuinePairs, impostor_pairs: calibration.impostorPairs)
            try MatchingConfiguration.write(thresholds, calibration: record, home: global.wardenHome)
            written = global.wardenHome.file(MatchingConfiguration.fileName)
            global.recordAdmin("admin.calibrate", by: op.resolved, subject: "matching", detail: [
                "dataset": dataset, "target_fmr": String(targetFMR), "verify": String(format: "%.4f", calibration.verify),
                "previous_verify": String(format: "%.4f", base.verify), "fmr": String(calibration.fmr), "fnmr": String(calibration.fnmr),
                "impostor_pairs": String(calibration.impostorPairs), "genuine_pairs": String(calibration.genuinePairs),
            ])
        }
        let report = Report(calibration: calibration, previousVerify: base.verify, enrolledPeople: people,
                            identifyThreshold: thresholds.identifyThreshold(people: max(1, people)), written: written)
        if global.json { try Output.json(report); return }
        let c = calibration
        print("""
        1:1 threshold \(Output.fixed(c.verify, 4)) (was \(Output.fixed(base.verify, 4))): FMR \(String(format: "%.2e", c.fmr)) \
        (target \(String(format: "%.0e", targetFMR))), FNMR \(String(format: "%.2f%%", c.fnmr * 100)) \
        on \(c.genuinePairs) genuine and \(c.impostorPairs) impostor pairs
        impostor model: mean \(Output.fixed(c.impostorMean, 4)), sd \(Output.fixed(c.impostorStandardDeviation, 4))
        1:N threshold for a gallery of \(max(1, people)) (the people enrolled now): \(Output.fixed(report.identifyThreshold, 4)) \
        (target FPIR \(String(format: "%.0e", thresholds.targetFPIR)))
        """)
        print(written.map { "written to \($0) and recorded in the audit log" } ?? "dry run: nothing changed")
    }
}
