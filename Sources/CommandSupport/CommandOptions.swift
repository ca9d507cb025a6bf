import ArgumentParser
import WardenCore
import FaceKit
import Foundation
import Matching

// The options a command accepts, in groups, so that each command's help lists only the
// options it uses: every command has `--home` and `--json`; the ones that load models add
// `--models` and `--pad-models`; the admin commands that can make their change at a fleet
// server add `--server` and `--server-ca`. A command declares one of the four bundles below
// as `@OptionGroup var global`, and the helpers ask for the protocol that gives them what
// they need (`CommandOptions`, `LoadsModels`, `ReachesServer`).

/// What every command has: the data directory and `--json`.
package protocol CommandOptions {
    var home: String? { get }
    var json: Bool { get }
    /// The fleet server named by `--server`, for commands that take it; nil for the others.
    var server: String? { get }
}

extension CommandOptions {
    package var server: String? { nil }
    package var wardenHome: WardenHome { WardenHome(explicit: home) }

    package func thresholds() throws -> MatchThresholds { try MatchingConfiguration.load(home: wardenHome) }

    /// The learned metric head in force, if one is configured (see MatchingConfiguration).
    package func metricHead() throws -> MetricHead? { try MatchingConfiguration.loadHead(home: wardenHome) }
}

/// A command that loads the face models.
package protocol LoadsModels: CommandOptions {
    var models: String? { get }
    var padModels: String? { get }
}

extension LoadsModels {
    package var modelLocator: ModelLocator { ModelLocator(explicitDirectory: models, homeDirectory: wardenHome.path) }

    package func loadEngine(cnn: Bool = false) throws -> FaceEngine {
        do { return try FaceEngine(locator: modelLocator, loadCNNDetector: cnn) } catch { throw CLIError(error.description) }
    }
}

/// An admin command that can make its change at a fleet server.
package protocol ReachesServer: CommandOptions {
    var serverCA: String? { get }
}

/// `--home` and `--json`.
package struct GlobalOptions: ParsableArguments, CommandOptions {
    package init() {}
    @Option(name: .long, help: ArgumentHelp("Data directory for all state (databases, keys, calibration).",
                                            discussion: "Defaults to $WARDEN_HOME, else /var/lib/warden as root, else $XDG_DATA_HOME/warden.",
                                            valueName: "dir"))
    package var home: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    package var json = false
}

/// `--models` and `--pad-models`.
package struct ModelOptions: ParsableArguments {
    package init() {}
    @Option(name: .long, help: ArgumentHelp("Folder holding the dlib model files.",
                                            discussion: "Defaults to $WARDEN_MODELS, else <home>/models, else the checkout's models/ filled by `make setup`.",
                                            valueName: "dir"))
    package var models: String?

    @Option(name: .customLong("pad-models"), help: ArgumentHelp("Folder holding the presentation-attack (liveness) models.",
                                                                discussion: "Defaults to $WARDEN_PAD_MODELS, else where the face models are looked for.",
                                                                valueName: "dir"))
    package var padModels: String?
}

/// `--server` and `--server-ca`.
package struct ServerOptions: ParsableArguments {
    package init() {}
    @Option(name: .long, help: ArgumentHelp("Make the change at this fleet server instead of in the local database.",
                                            discussion: "Defaults to $WARDEN_SERVER. Needs $WARDEN_OPERATOR_TOKEN and the site CA (--server-ca).",
                                            valueName: "url"))
    package var server: String?

    @Option(name: .customLong("server-ca"), help: ArgumentHelp("The site CA's certificate, to check the fleet server by (default $WARDEN_SERVER_CA).", valueName: "file"))
    package var serverCA: String?
}

// The bundles hold the groups; these give each bundle the accessors of the groups it
// holds, once, so no bundle forwards them by hand.
package protocol HoldsGlobalOptions: CommandOptions { var base: GlobalOptions { get } }
extension HoldsGlobalOptions {
    package var home: String? { base.home }
    package var json: Bool { base.json }
}
package protocol HoldsModelOptions: LoadsModels { var modelFiles: ModelOptions { get } }
extension HoldsModelOptions {
    package var models: String? { modelFiles.models }
    package var padModels: String? { modelFiles.padModels }
}
package protocol HoldsServerOptions: ReachesServer { var fleetServer: ServerOptions { get } }
extension HoldsServerOptions {
    package var server: String? { fleetServer.server }
    package var serverCA: String? { fleetServer.serverCA }
}

/// `--home`, `--json`, `--models`, `--pad-models`: a command that loads models.
package struct ModelCommandOptions: ParsableArguments, HoldsGlobalOptions, HoldsModelOptions {
    package init() {}
    @OptionGroup package var base: GlobalOptions
    @OptionGroup package var modelFiles: ModelOptions
}

/// `--home`, `--json`, `--server`, `--server-ca`: an admin command with a server form.
package struct AdminCommandOptions: ParsableArguments, HoldsGlobalOptions, HoldsServerOptions {
    package init() {}
    @OptionGroup package var base: GlobalOptions
    @OptionGroup package var fleetServer: ServerOptions
}

/// All six: an admin command with a server form that also loads models (enrollment).
package struct AdminModelCommandOptions: ParsableArguments, HoldsGlobalOptions, HoldsModelOptions, HoldsServerOptions {
    package init() {}
    @OptionGroup package var base: GlobalOptions
    @OptionGroup package var modelFiles: ModelOptions
    @OptionGroup package var fleetServer: ServerOptions
}

/// The operator option for commands that change state.
package struct OperatorOption: ParsableArguments {
    package init() {}
    @Option(name: .customLong("operator"), help: "Who is making this change (default: the OS user).")
    package var name: String?
    package var resolved: Operator { Operator.resolve(explicit: name) }
    package func validate() throws { if let p = Operator.problem(with: name) { throw ValidationError(p) } }
}
