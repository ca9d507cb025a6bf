import ArgumentParser
import WardenCLI
import WardenCore

/// `warden-lab`: what measures Warden rather than runs a door. Evaluation on labelled faces,
/// calibration, metric training, presentation-attack studies and benchmarks. A binary of its
/// own, so a door controller's `warden` links none of it (the plots' FreeType, the trainer,
/// the benchmark peers); `warden eval ...` and the others still work, by running this.
public struct WardenLabCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "warden-lab",
        abstract: "Measure Warden: accuracy, calibration, metric training, liveness studies, benchmarks.",
        discussion: "`warden eval`, `warden calibrate`, `warden train-metric`, `warden bench` and `warden pad eval|motion|framing` run these.",
        version: WardenVersion.current,
        subcommands: [EvalCommand.self, CalibrateCommand.self, TrainMetricCommand.self, BenchCommand.self, LabPadCommand.self]
    )
    public init() {}
}

/// The presentation-attack studies (`warden pad models` and `pad check` stay on the board).
struct LabPadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pad",
        abstract: "Presentation-attack studies: APCER/BPCER on labelled data, the motion cue, the framing.",
        subcommands: [PadEval.self, PadMotion.self, PadFramingCommand.self]
    )
}
