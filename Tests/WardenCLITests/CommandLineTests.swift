import Foundation
import Testing

/// What every command owes a script and a person at the terminal: an unknown command is an
/// error that names the commands there are; under --json an error is JSON; a command with
/// no server form refuses when WARDEN_SERVER is set instead of answering from this host.
@Suite("the command line")
struct CommandLineTests {
    @Test func anUnknownCommandIsAnErrorThatNamesTheCommands() throws {
        // swift-argument-parser alone printed the general help and exited 0 for these (the
        // issue's example was `warden backup --help`, before that command existed).
        let top = try CLI.run(["snapshot", "--help"])
        #expect(top.status == 64 && top.stderr.contains("'warden snapshot' is not a command") && top.stderr.contains("person, enroll"), "\(top.status) \(top.stderr)")
        #expect(top.stdout.isEmpty)
        let nested = try CLI.run(["audit", "backup", "--json"])
        let j = try #require(try nested.json() as? [String: Any])
        #expect(nested.status == 64 && (j["exitCode"] as? Int) == 64)
        #expect((j["error"] as? String)?.contains("the commands of `warden audit` are: verify, export, tail, stats, prune, acknowledge") == true, "\(j)")
        // Real commands, help and versions still work.
        #expect(try CLI.run(["audit", "--help"]).status == 0)
        #expect(try CLI.run(["help", "audit"]).status == 0)
        #expect(try CLI.run(["--version"]).status == 0)
    }

    @Test func underJSONAnErrorIsJSONWithItsExitStatus() throws {
        let missing = try CLI.run(["person", "show", "nobody", "--json"])
        let j = try #require(try missing.json() as? [String: Any], "stdout: \(missing.stdout)")
        #expect(missing.status == 1 && (j["exitCode"] as? Int) == 1 && (j["error"] as? String)?.contains("no person 'nobody'") == true)
        // A usage error too, and without --json the same error stays a line on stderr.
        let usage = try CLI.run(["person", "add", "--json"])
        let usageError = (try usage.json() as? [String: Any])?["error"] as? String
        #expect(usage.status == 64 && usageError?.contains("<name>") == true, "\(usage.stdout)")
        let human = try CLI.run(["person", "show", "nobody"])
        #expect(human.status == 1 && human.stdout.isEmpty && human.stderr.hasPrefix("Error: no person 'nobody'"))
    }

    /// The audit log's commands without a server form read this host's own log; with the
    /// fleet server named they refuse, as the identity commands without one already did.
    @Test func commandsWithoutAServerFormRefuseWhenAServerIsNamed() throws {
        let home = CLI.Home()
        #expect(try CLI.run(["person", "add", "Ada"], home: home).status == 0)
        for args in [["audit", "stats"], ["audit", "tail", "-n", "5", "--no-follow"], ["keys", "rotate"]] {
            let r = try CLI.run(args, home: home, environment: ["WARDEN_SERVER": "https://127.0.0.1:9"])
            #expect(r.status == 1 && r.stderr.contains("does not work against the fleet server yet"), "\(args): \(r.status) \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args) answered from this host: \(r.stdout)")
        }
        // Without the server named, the same commands read this home.
        let local = try CLI.run(["audit", "tail", "-n", "5", "--no-follow"], home: home)
        #expect(local.status == 0 && local.stdout.contains("admin.person_add"), "\(local.stdout) \(local.stderr)")
    }

    /// Each command's help lists the options it uses and no others.
    @Test func eachCommandsHelpOffersOnlyItsOwnOptions() throws {
        let audit = try CLI.run(["audit", "tail", "--help"]).stdout
        #expect(!audit.contains("--models") && !audit.contains("--server") && audit.contains("--home") && audit.contains("--json"))
        let enroll = try CLI.run(["enroll", "--help"]).stdout
        #expect(enroll.contains("--models") && enroll.contains("--server") && enroll.contains("--server-ca"))
        let run = try CLI.run(["run", "--help"]).stdout
        #expect(run.contains("--models") && run.contains("--pad-models") && !run.contains("--server"))
        let badge = try CLI.run(["badge", "issue", "--help"]).stdout
        #expect(badge.contains("--server") && !badge.contains("--models"))
        // And an option a command does not take is refused, not ignored.
        let r = try CLI.run(["audit", "tail", "--models", "/tmp"])
        #expect(r.status == 64 && r.stderr.contains("--models"), "\(r.stderr)")
    }

    /// The hint after `person add` names the person the way the site knows them.
    @Test func theNextStepNamesThePersonByTheirExternalID() throws {
        let home = CLI.Home()
        let withID = try CLI.run(["person", "add", "Ada Lovelace", "--external-id", "E1001"], home: home)
        #expect(withID.status == 0 && withID.stdout.contains("next: warden enroll E1001 PHOTO"), "\(withID.stdout)")
        let without = try CLI.run(["person", "add", "Grace Hopper"], home: home)
        #expect(without.status == 0 && without.stdout.contains("next: warden enroll 2 PHOTO"), "\(without.stdout)")
    }
}
