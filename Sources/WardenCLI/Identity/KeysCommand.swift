import CommandSupport
import ArgumentParser
import Foundation
import WardenCore

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the key that encrypts face templates at rest.",
        discussion: """
        Templates are encrypted with AES-256-GCM under <home>/keys/template.key (owner-only; \
        Warden refuses a key others can read). `rotate` re-encrypts every template under a \
        new key in one transaction: a crash leaves all old or all new, never a mix.
        """,
        subcommands: [RotateKey.self]
    )
}

struct RotateKey: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rotate", abstract: "Re-encrypt every template under a new key.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption

    func run() throws {
        let db = try global.openDatabase()
        let n: Int
        do { n = try db.rotateTemplateKey(by: op.resolved) } catch { throw CLIError("key rotation failed, the old key stays in force: \(error)") }
        if global.json { try Output.json(["templates": n]) } else { print("re-encrypted \(counted(n, "template")) under a new key (\(db.keyPath))") }
    }
}
