import ArgumentParser
import WardenCore

public struct WardenCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "Face-recognition door access controller.",
        version: WardenVersion.current,
        subcommands: [
            PersonCommand.self, EnrollCommand.self, BadgeCommand.self, VerifyCommand.self, IdentifyCommand.self,
            GroupCommand.self, GrantCommand.self, RevokeCommand.self, ZoneCommand.self, DoorCommand.self, PolicyCommand.self, AuditCommand.self, BackupCommand.self, ModelsCommand.self, RestoreCommand.self, KeysCommand.self, HardwareCommand.self, ReaderCommand.self, CameraCommand.self, RunCommand.self, StatusCommand.self, ServerCommand.self, FleetCommand.self,
            EvalPassthrough.self, PadCommand.self, CalibratePassthrough.self, ThresholdsCommand.self, TrainMetricPassthrough.self, FacesCommand.self, DemoCommand.self, BenchPassthrough.self,
        ]
    )
    public init() {}
}
