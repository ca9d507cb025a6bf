import CommandSupport
import ArgumentParser
import Foundation
import WardenCore
import Policy
import Storage

/// Where the policy files are: `--policy DIR`, else `<home>/policies`, else the checkout's
/// `policies/example`.
struct PolicyOption: ParsableArguments {
    @Option(name: .customLong("policy"), help: ArgumentHelp("Policy directory.", discussion: "Default: <home>/policies, else the example site in the checkout.", valueName: "dir"))
    var directory: String?

    func resolve(_ global: some CommandOptions) -> String { directory ?? Self.defaultDirectory(global) }

    static func defaultDirectory(_ global: some CommandOptions) -> String {
        let home = global.wardenHome.file("policies")
        if FileManager.default.fileExists(atPath: home) { return home }
        return Checkout.root.appendingPathComponent("policies/example").path
    }

    func load(_ global: some CommandOptions) throws -> SitePolicy {
        let dir = resolve(global)
        do { return try PolicyLoader().load(directory: dir) } catch {
            throw CLIError("the policy in \(dir) has \(counted(error.issues.count, "problem")):\n" + error.description)
        }
    }
}


