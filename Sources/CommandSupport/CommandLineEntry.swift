import ArgumentParser
import Foundation
import Glibc

/// An error under `--json`.
struct CommandFailure: Encodable { let error: String; let exitCode: Int32 }

extension ParsableCommand {
    /// `main()`, with two things every Warden program owes its users:
    /// - an unknown command is an error that names the commands there are (swift-argument-
    ///   parser prints the parent's help and exits 0 for `warden backup --help`);
    /// - with `--json`, an error is JSON too, on stdout where the result would have been:
    ///   `{"error": "...", "exitCode": N}`, with the same non-zero exit status.
    public static func mainReportingErrors(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        let json = arguments.contains("--json")
        if let unknown = unknownCommand(in: arguments, root: Self.self) {
            fail(unknown, code: ExitCode.validationFailure, json: json)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Glibc.exit(0)
        } catch {
            let code = exitCode(for: error)
            let message = self.message(for: error)
            // Help, --version and a bare exit status go out as swift-argument-parser writes them.
            guard json, code != .success, !message.isEmpty else { exit(withError: error) }
            fail(message, code: code, json: true)
        }
    }

    private static func fail(_ message: String, code: ExitCode, json: Bool) -> Never {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(CommandFailure(error: message, exitCode: code.rawValue))) ?? Data("{\"error\": \"unprintable\"}".utf8)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        }
        Glibc.exit(code.rawValue)
    }
}

/// The first word that should name a subcommand of `root` and does not, with the ones it
/// could be.
func unknownCommand(in arguments: [String], root: any ParsableCommand.Type) -> String? {
    var current = root
    var path = [root._commandName]
    for word in arguments {
        let subcommands = current.configuration.subcommands
        guard !word.hasPrefix("-"), !subcommands.isEmpty, word != "help", current.configuration.defaultSubcommand == nil else { return nil }
        guard let next = subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) else {
            let names = subcommands.map { $0._commandName }
            return "'\(path.joined(separator: " ")) \(word)' is not a command; the commands of `\(path.joined(separator: " "))` are: \(names.joined(separator: ", "))"
        }
        current = next
        path.append(word)
    }
    return nil
}
