import CommandSupport
import ArgumentParser
import FleetProtocol
import Foundation
import Matching
import WardenCore

struct ThresholdsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thresholds",
        abstract: "Show the matching thresholds in force, or publish them to the fleet.",
        discussion: """
        The thresholds are set by `warden calibrate` into <home>/matching.yaml (docs/accuracy.md). \
        In a fleet, calibrate once, then publish: every board takes the file within seconds, and \
        the server's duplicate-identity check at enrollment uses the same 1:1 threshold.

        Examples:
          warden thresholds show
          warden calibrate ../shared/faces --target-fmr 1e-3 && warden thresholds publish --server https://warden.example:8443
          warden thresholds show --server https://warden.example:8443
        """,
        subcommands: [ShowThresholds.self, PublishThresholds.self],
        defaultSubcommand: ShowThresholds.self
    )
}

struct ShowThresholds: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "The thresholds in force: this home's, or with --server the ones published to the fleet.")
    @OptionGroup var global: AdminCommandOptions

    struct Shown: Codable {
        let origin: String; let verify: Double; let identifyCeiling: Double; let targetFPIR: Double; let ambiguityMargin: Double
        let impostorMean: Double; let impostorSD: Double; let version: Int64?
    }

    func run() throws {
        let t: MatchThresholds, origin: String, version: Int64?
        if let remote = try global.remoteAdmin() {
            let view = try remote.get(AdminSiteView.self, AdminPath.site)
            if let published = view.thresholds, let text = published.files[ThresholdsFile.fileName] {
                let source = "the \(ThresholdsFile.fileName) published at \(remote.server)"
                do { t = try ThresholdsFile.parse(text, source: source).thresholds(source: source) } catch { throw CLIError(error.description) }
                origin = "\(remote.server) (version \(published.version) by \(published.createdBy))"
                version = published.version
            } else {
                // Nothing published: each board uses its own <home>/matching.yaml, or the defaults.
                t = .default; origin = "\(remote.server): none published (each board's own, else these defaults)"; version = nil
            }
        } else {
            t = try global.thresholds()
            let path = global.wardenHome.file(MatchingConfiguration.fileName)
            origin = FileManager.default.fileExists(atPath: path) ? path : "the defaults (no \(path))"
            version = nil
        }
        let shown = Shown(origin: origin, verify: t.verify, identifyCeiling: t.identifyCeiling, targetFPIR: t.targetFPIR, ambiguityMargin: t.ambiguityMargin,
                          impostorMean: t.impostors.mean, impostorSD: t.impostors.standardDeviation, version: version)
        if global.json { try Output.json(shown); return }
        print("thresholds from \(origin)")
        print(String(format: "  1:1 verify at distance <= %.4f; 1:N at most %.4f, holding FPIR %.0e, ambiguity margin %.3f", t.verify, t.identifyCeiling, t.targetFPIR, t.ambiguityMargin))
        print(String(format: "  impostor distances: mean %.4f, sd %.4f (%@)", t.impostors.mean, t.impostors.standardDeviation, t.impostors.source))
    }
}

struct PublishThresholds: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a matching.yaml to the fleet server (every board takes it within seconds).",
        discussion: "Checked here and again at the server as a board reads it. A file naming a learned metric head is refused: the fleet does not carry the head's file. Needs --server or WARDEN_SERVER."
    )
    @OptionGroup var global: AdminCommandOptions
    @Argument(help: "The file (default: <home>/matching.yaml, as `warden calibrate` writes it).") var file: String?

    func run() throws {
        guard let remote = try global.remoteAdmin() else { throw CLIError("publish sends the thresholds to a fleet server: give --server URL (or WARDEN_SERVER)") }
        let path = file ?? global.wardenHome.file(MatchingConfiguration.fileName)
        let text: String
        do { text = try BoundedFile.readText(path, limit: 1 << 20) } catch {
            throw CLIError("\(path): \(error)" + (file == nil ? " (calibrate first: `warden calibrate DATASET`, or name the file)" : ""))
        }
        let files = [ThresholdsFile.fileName: text]
        do { try ThresholdsFile.checkPublishable(files) } catch { throw CLIError("not published: \(error.description)") }
        let v = try remote.post(AdminVersion.self, AdminPath.thresholds, AdminConfiguration(files: files))
        if global.json { try Output.json(["version": v.version]); return }
        print("published \(path) as thresholds version \(v.version) at \(remote.server)")
    }
}
