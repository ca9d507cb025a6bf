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
        subcommands: [BenchFaces.self, BenchPipeline.self, BenchSearch.self, BenchAudit.self]
    )
}
