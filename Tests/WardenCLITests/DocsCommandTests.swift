import ArgumentParser
import Foundation
import Testing
import WardenCLI
import WardenLab
import WardenServerCLI

/// Every `warden`, `warden-server` and `warden-lab` command the docs show, parsed by the
/// command line it is written for: a command, subcommand or option the docs name that does
/// not exist (`audit tail -n 10` when the option was `-l`), or a required argument they
/// leave out, fails here. (Parsing, not running: the commands need hardware, servers and
/// data the test does not have. The commands that run are tested by their own suites.)
@Suite("the docs' commands")
struct DocsCommandTests {
    struct Shown: CustomStringConvertible {
        var file: String; var line: Int; var text: String; var program: String; var arguments: [String]
        var description: String { "\(file):\(line): \(text)" }
    }

    /// The documents a newcomer reads.
    static let documents: [URL] = {
        let docs = CLI.root.appendingPathComponent("docs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: docs.path)) ?? []
        return [CLI.root.appendingPathComponent("README.md"), CLI.root.appendingPathComponent("hardware/README.md")]
            + names.filter { $0.hasSuffix(".md") }.sorted().map { docs.appendingPathComponent($0) }
    }()

    /// The command lines in the documents' shell blocks.
    static func shownCommands() -> [Shown] {
        var out: [Shown] = []
        for doc in documents {
            guard let text = try? String(contentsOf: doc, encoding: .utf8) else { continue }
            var inShell = false, pending = "", pendingLine = 0
            for (i, raw) in text.components(separatedBy: "\n").enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("```") { inShell = !inShell && (line == "```sh" || line == "```bash" || line == "```shell"); pending = ""; continue }
                guard inShell else { continue }
                if pending.isEmpty { pendingLine = i + 1 }
                pending += (pending.isEmpty ? "" : " ") + line
                if pending.hasSuffix("\\") { pending.removeLast(); continue }
                for segment in commandSegments(pending) {
                    let words = shellWords(segment)
                    guard let first = words.first else { continue }
                    let program = first == "$W" || first == "\"$W\"" ? "warden" : (first as NSString).lastPathComponent
                    guard ["warden", "warden-server", "warden-lab"].contains(program) else { continue }
                    out.append(Shown(file: doc.lastPathComponent, line: pendingLine, text: segment, program: program, arguments: Array(words.dropFirst())))
                }
                pending = ""
            }
        }
        return out
    }

    /// The commands of a line (a synopsis's `[optional]` parts left out): split at pipes, `&&`, `||` and `;`, a trailing comment
    /// dropped, `sudo -u USER` and `VAR=value` prefixes skipped.
    static func commandSegments(_ line: String) -> [String] {
        var code = "", quote: Character? = nil, previous: Character = " "
        // A synopsis's optional parts (`[--from D]`, `[--result granted|denied]`) are not
        // arguments: they go, and the command without them must parse.
        let line = line.replacingOccurrences(of: #"\[[^\]]*\]"#, with: "", options: .regularExpression)
        for c in line {
            if quote == nil, c == "#", previous == " " { break }
            if c == "'" || c == "\"" { quote = quote == nil ? c : (quote == c ? nil : quote) }
            code.append(c); previous = c
        }
        var segments: [String] = []
        for part in code.replacingOccurrences(of: "&&", with: "|").replacingOccurrences(of: "||", with: "|").replacingOccurrences(of: ";", with: "|").split(separator: "|") {
            var words = part.split(separator: " ").map(String.init)
            while let w = words.first, w.contains("="), !w.hasPrefix("-") { words.removeFirst() }
            if words.first == "sudo" { words.removeFirst(); if words.first == "-u" { words.removeFirst(2) } }
            if words.first == "(" || words.first?.hasPrefix("(") == true { words[0] = String(words[0].dropFirst()) }
            let s = words.joined(separator: " ").trimmingCharacters(in: CharacterSet(charactersIn: " ()"))
            if !s.isEmpty { segments.append(s) }
        }
        return segments
    }

    /// Words as the shell splits them, quotes removed; `$VAR` left as it is (a value).
    static func shellWords(_ s: String) -> [String] {
        var words: [String] = [], word = "", quote: Character? = nil, inWord = false
        for c in s {
            if let q = quote { if c == q { quote = nil } else { word.append(c) }; continue }
            if c == "'" || c == "\"" { quote = c; inWord = true; continue }
            if c == " " { if inWord { words.append(word); word = ""; inWord = false }; continue }
            word.append(c); inWord = true
        }
        if inWord { words.append(word) }
        // A redirection and what follows it is the shell's, not the command's.
        if let r = words.firstIndex(where: { $0.hasPrefix(">") || $0.hasPrefix("<") || $0 == "2>&1" }) { words = Array(words[..<r]) }
        return words
    }

    static func parse(_ shown: Shown) -> String? {
        do {
            switch shown.program {
            case "warden":
                // `warden server ...` passes through to warden-server.
                if shown.arguments.first == "server" { _ = try WardenServerCommand.parseAsRoot(Array(shown.arguments.dropFirst())) }
                else if ["eval", "calibrate", "train-metric", "bench"].contains(shown.arguments.first ?? "") { _ = try WardenLabCommand.parseAsRoot(shown.arguments) }
                else { _ = try WardenCommand.parseAsRoot(shown.arguments) }
            case "warden-server": _ = try WardenServerCommand.parseAsRoot(shown.arguments)
            default: _ = try WardenLabCommand.parseAsRoot(shown.arguments)
            }
            return nil
        } catch {
            let message = WardenCommand.message(for: error)
            // --help and --version are answers, not mistakes.
            if message.isEmpty || message.contains("USAGE") || message.contains("OVERVIEW") || message.hasPrefix("0.") { return nil }
            return message
        }
    }

    @Test func everyCommandTheDocsShowParses() {
        let shown = Self.shownCommands()
        #expect(shown.count > 100, "found only \(shown.count) commands in the docs' shell blocks")
        let wrong = shown.compactMap { s in Self.parse(s).map { "\(s)\n    -> \($0)" } }
        #expect(wrong.isEmpty, "\(wrong.count) of \(shown.count) documented commands do not parse:\n\(wrong.joined(separator: "\n"))")
    }

    /// The test can fail: a command that does not exist, and an option that does not.
    @Test func aMistakeInTheDocsWouldBeCaught() {
        #expect(Self.parse(Shown(file: "x", line: 1, text: "", program: "warden", arguments: ["audit", "tail", "--lines-please", "3"])) != nil)
        #expect(Self.parse(Shown(file: "x", line: 1, text: "", program: "warden", arguments: ["backup-now"])) != nil)
        #expect(Self.parse(Shown(file: "x", line: 1, text: "", program: "warden", arguments: ["audit", "tail", "-n", "10"])) == nil)
    }
}
