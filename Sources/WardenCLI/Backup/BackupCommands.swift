import ArgumentParser
import Backup
import CommandSupport
import Controller
import Foundation
import Storage
import WardenCore

/// How a backup's key is given: a passphrase (asked twice at a terminal, or one line on
/// standard input) or a key file.
struct BackupKeyOptions: ParsableArguments {
    @Flag(help: "Read the passphrase from standard input (one line) instead of asking.") var passphraseStdin = false
    @Option(help: ArgumentHelp("Seal or open with this key file (32 bytes) instead of a passphrase.", valueName: "file")) var keyFile: String?

    func key(confirm: Bool) throws -> BackupArchive.KeySource {
        if let keyFile {
            guard !passphraseStdin else { throw ValidationError("give --key-file or --passphrase-stdin, not both") }
            return .keyFile(keyFile)
        }
        let p = try passphraseStdin ? SecretInput.line(what: "passphrase")
            : confirm ? SecretInput.askTwice("Backup passphrase: ", what: "passphrase", flag: "--passphrase-stdin")
            : SecretInput.askOnce("Backup passphrase: ", what: "passphrase", flag: "--passphrase-stdin")
        return .passphrase(p)
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back the home up into one encrypted file, while the controller runs.",
        discussion: """
        Takes a consistent snapshot of the identity database and the audit log (SQLite's \
        online backup: no stop needed), and the template key, the fleet membership, \
        matching.yaml and the door modes; with --site, the site file, its pin map and its \
        policy too. Sealed with AES-256-GCM under a passphrase (scrypt) or a key file; each \
        file's SHA-256 is in the archive's manifest. Keep the passphrase or the key file \
        apart from the archive: without it the archive cannot be opened.

          warden backup --to /mnt/usb/board-1.wbk --site /etc/warden/site.yaml
          warden backup --to b.wbk --new-key-file /root/warden-backup.key   # a new key file, then sealed with it
          warden restore /mnt/usb/board-1.wbk                               # on the new card, into an empty home
        """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The archive to write (replaced only once complete).", valueName: "file")) var to: String
    @Option(help: ArgumentHelp("Also carry this site file, its pin map and its policy.", valueName: "file")) var site: String?
    @Option(help: ArgumentHelp("Write a new random key file here (owner read-only) and seal with it.", valueName: "file")) var newKeyFile: String?
    @OptionGroup var keyOptions: BackupKeyOptions

    func run() throws {
        var siteFiles: HomeBackup.SiteFiles? = nil
        let scratch = NSTemporaryDirectory() + "warden-backup-site-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        if let site { siteFiles = try Self.siteFiles(site, scratch: scratch) }
        let key: BackupArchive.KeySource
        if let newKeyFile {
            do { try BackupArchive.writeNewKeyFile(newKeyFile) } catch { throw CLIError(error.description) }
            key = .keyFile(newKeyFile)
        } else {
            key = try keyOptions.key(confirm: true)
        }
        let manifest: BackupArchive.Manifest
        do { manifest = try HomeBackup.create(home: global.wardenHome.path, site: siteFiles, to: to, key: key) } catch { throw CLIError(error.description) }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: to)[.size] as? Int) ?? 0
        if global.json {
            struct R: Codable { let archive: String; let bytes: Int; let files: [String]; let auditHeadSeq: Int64; let identityMigrations: [String] }
            try Output.json(R(archive: to, bytes: bytes, files: manifest.files.map(\.path), auditHeadSeq: manifest.auditHeadSeq, identityMigrations: manifest.identityMigrations))
            return
        }
        print("backed up \(global.wardenHome.path) to \(to): \(counted(manifest.files.count, "file")), \(bytes / 1024) KiB; audit log to row #\(manifest.auditHeadSeq)")
        for f in manifest.files { print("  \(f.path) (\(f.size) bytes, sha256 \(f.sha256.prefix(16))…)") }
        if let newKeyFile { print("sealed with the new key file \(newKeyFile): keep a copy of it apart from the archive") }
    }

    /// The site file (its `policy:` and `pinmap:` pointed at the copies beside it, so the
    /// restored set works wherever it is put), its pin map and its policy's files.
    static func siteFiles(_ site: String, scratch: String) throws -> HomeBackup.SiteFiles {
        let config: SiteConfig
        do { config = try SiteConfig.load(path: site) } catch let e as SiteConfigError { throw CLIError("--site \(site): " + e.problems.joined(separator: "; ")) }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let text = try String(contentsOfFile: site, encoding: .utf8)
        let rewritten = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("policy:") { return "policy: policy    # restored beside this file" }
            if line.hasPrefix("pinmap:") { return "pinmap: pinmap.yaml    # restored beside this file" }
            return String(line)
        }.joined(separator: "\n")
        let siteCopy = (scratch as NSString).appendingPathComponent("site.yaml")
        try rewritten.write(toFile: siteCopy, atomically: true, encoding: .utf8)
        var files: [(archive: String, disk: String)] = [("site.yaml", siteCopy), ("pinmap.yaml", config.pinMapPath)]
        let policyFiles = (try FileManager.default.contentsOfDirectory(atPath: config.policyDirectory)).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        files += policyFiles.map { ("policy/\($0)", (config.policyDirectory as NSString).appendingPathComponent($0)) }
        return HomeBackup.SiteFiles(files: files)
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into an empty home, and prove its audit chain.",
        discussion: """
        Opens the archive with its passphrase or key file and checks every chunk and every \
        file's SHA-256 before anything in the home changes. Refused: an archive made by a \
        newer Warden (a database migration this one does not know), and a home that is not \
        empty, unless --replace-existing (what is there is then moved aside, never deleted, \
        and the restored log records what it replaced). The restore is itself an audit event \
        (admin.restore); the chain is verified after. With the site's files in the archive, \
        they go to --site-to (default <home>/restored-site).

          warden restore /mnt/usb/board-1.wbk
          warden restore b.wbk --key-file /root/warden-backup.key --site-to /etc/warden
        """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The archive.", valueName: "file")) var archive: String
    @Flag(help: "Restore over a home that holds data: it is moved aside into <home>/replaced-by-restore-*, and the restore is recorded with what it replaced.")
    var replaceExisting = false
    @Option(help: ArgumentHelp("Where the site file, pin map and policy go (an empty directory).", valueName: "dir")) var siteTo: String?
    @OptionGroup var keyOptions: BackupKeyOptions
    @OptionGroup var op: OperatorOption

    func run() throws {
        let home = global.wardenHome.path
        // A running controller holds the home: restoring under it would pull its files away.
        let lock: HomeLock
        do { lock = try HomeLock.acquire(home: home) } catch { throw CLIError("not restoring: \(error)") }
        defer { lock.release() }
        let key = try keyOptions.key(confirm: false)
        let restored: HomeBackup.Restored
        do {
            restored = try HomeBackup.restore(from: archive, into: home, key: key, knownMigrations: WardenDatabase.knownMigrations, replacing: replaceExisting,
                                              siteDirectory: siteTo, by: op.resolved.name)
        } catch { throw CLIError(error.description) }
        // Prove it: the database opens with its key, and the chain verifies.
        let templates: Int
        do { templates = try WardenDatabase(home: home).templates.count() } catch { throw CLIError("restored, but the identity database does not open: \(error)") }
        let report = try global.openAudit(ownHome: true).verify()
        if global.json {
            struct R: Codable { let home: String; let files: Int; let templates: Int; let auditRows: Int64; let chainOK: Bool; let siteDirectory: String?; let replacedInto: String? }
            try Output.json(R(home: home, files: restored.files, templates: templates, auditRows: restored.auditHeadSeq, chainOK: report.ok,
                              siteDirectory: restored.siteDirectory, replacedInto: restored.replacedInto))
        } else {
            print("restored \(counted(restored.files, "file")) into \(home) from a backup of \(HumanTime.text(restored.archiveCreated, in: .current)) (Warden \(restored.archiveWarden))")
            print("  identity database: \(counted(templates, "template")); audit log: \(counted(Int(restored.auditHeadSeq), "row")) restored, chain \(report.ok ? "verified" : "NOT VERIFIED")")
            if let s = restored.siteDirectory { print("  site files in \(s): `warden run --site \(s)/site.yaml --check` before starting") }
            if let r = restored.replacedInto { print("  what the home held before is in \(r)") }
        }
        guard report.ok else { throw CLIError("the restored audit chain does not verify: `warden audit verify` says where") }
    }
}
