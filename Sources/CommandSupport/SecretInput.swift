import Foundation

/// A secret typed by the operator (a console password, a backup passphrase): never on the
/// command line, where it would be in the shell's history and in every process listing.
/// Asked twice without echo at a terminal, or read as one line from standard input.
package enum SecretInput {
    package static func line(what: String) throws -> String {
        guard let l = readLine(strippingNewline: true), !l.isEmpty else { throw CLIError("no \(what) on standard input (one line expected)") }
        return l
    }

    /// `flag`: the option that reads it from standard input instead, named when there is no terminal.
    package static func askTwice(_ prompt: String, what: String, flag: String) throws -> String {
        guard isatty(0) == 1 else { throw CLIError("standard input is not a terminal: pass \(flag) and the \(what) as one line") }
        let first = try ask(prompt, what: what), second = try ask("Again: ", what: what)
        guard first == second else { throw CLIError("the two \(what)s differ; nothing was changed") }
        return first
    }

    package static func askOnce(_ prompt: String, what: String, flag: String) throws -> String {
        guard isatty(0) == 1 else { throw CLIError("standard input is not a terminal: pass \(flag) and the \(what) as one line") }
        return try ask(prompt, what: what)
    }

    private static func ask(_ prompt: String, what: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var old = termios(), quiet = termios()
        tcgetattr(0, &old); quiet = old
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSANOW, &quiet)
        defer { tcsetattr(0, TCSANOW, &old); FileHandle.standardError.write(Data("\n".utf8)) }
        return try line(what: what)
    }
}
