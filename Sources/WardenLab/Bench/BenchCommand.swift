import WardenCLI
import WardenCore
import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed and memory on real images, against the reference peer.",
        discussion: """
        Benchmarks report medians and tail percentiles over many runs, and, when a peer is \
        given, the ratio to the reference implementation measured in the same run on the \
        same inputs. `make bench` sets up the peer and runs them all; docs/benchmarks.md \
        records results.
        """,
        subcommands: [BenchFaces.self, BenchPipeline.self, BenchSearch.self, BenchAudit.self, BenchIntegrations.self, BenchFleetPassthrough.self]
    )
}

/// `warden bench fleet`: the fleet server's benchmark lives in `warden-server`, which carries
/// the server (a board's `warden` does not).
struct BenchFleetPassthrough: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "The fleet server at scale: a new board's first sync, change propagation, event ingest, server memory.",
        discussion: "Runs `warden-server bench fleet` with the same arguments (--people, --controllers, --rounds, --json); see docs/benchmarks.md."
    )
    @Argument(parsing: .captureForPassthrough, help: "Options for `warden-server bench fleet`.") var arguments: [String] = []
    func run() throws { try CompanionBinary.server.exec(["bench", "fleet"] + arguments) }
}
