import Audit
import Foundation
import GRDB
import WardenCore

/// A board's home, backed up and restored: the identity and audit databases by SQLite's
/// online backup (no stop needed: a consistent snapshot of each while the controller runs),
/// the template key, the fleet membership, the matching and door-mode files, and the site's
/// own files (site file, pin map, policy) when given. One encrypted archive
/// (`BackupArchive`).
public enum HomeBackup {
    /// Files of a home that a backup carries besides the two databases, when present.
    static let homeFiles = ["keys/template.key", "matching.yaml", "door-modes.json"]
    /// Directories carried whole.
    static let homeDirectories = ["fleet"]
    static let identity = "identity.sqlite", audit = "audit.sqlite"

    /// A site file, its pin map and its policy, as the archive names them (`site/...`).
    public struct SiteFiles: Sendable {
        /// Archive path (under `site/`) and the file on disk.
        public var files: [(archive: String, disk: String)]
        public init(files: [(archive: String, disk: String)]) { self.files = files }
    }

    /// Takes the backup. `knownMigrations` is not needed here: the manifest records the
    /// snapshot's own.
    @discardableResult
    public static func create(home: String, site: SiteFiles?, to output: String, key: BackupArchive.KeySource) throws(BackupError) -> BackupArchive.Manifest {
        let fm = FileManager.default
        let identityPath = (home as NSString).appendingPathComponent(identity)
        guard fm.fileExists(atPath: identityPath) else { throw BackupError.refused("\(home) holds no identity database: nothing to back up (is WARDEN_HOME or --home right?)") }
        let staging = (home as NSString).appendingPathComponent(".backup-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(atPath: staging) }
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            // The databases first, each a consistent snapshot taken while others may write.
            var migrations: [String] = []
            try snapshot(identityPath, to: (staging as NSString).appendingPathComponent(identity))
            try DatabaseQueue(path: (staging as NSString).appendingPathComponent(identity)).read { db in
                migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
            }
            let auditPath = (home as NSString).appendingPathComponent(audit)
            var head: (seq: Int64, hash: String) = (0, "")
            if fm.fileExists(atPath: auditPath) {
                try snapshot(auditPath, to: (staging as NSString).appendingPathComponent(audit))
                head = try AuditStore(path: (staging as NSString).appendingPathComponent(audit), readOnly: true).newestRow()
            }
            var entries: [(archive: String, disk: String)] = [(identity, (staging as NSString).appendingPathComponent(identity))]
            if fm.fileExists(atPath: auditPath) { entries.append((audit, (staging as NSString).appendingPathComponent(audit))) }
            for name in homeFiles where fm.fileExists(atPath: (home as NSString).appendingPathComponent(name)) {
                entries.append((name, (home as NSString).appendingPathComponent(name)))
            }
            for dir in homeDirectories {
                let base = (home as NSString).appendingPathComponent(dir)
                for name in (fm.enumerator(atPath: base)?.allObjects as? [String] ?? []).sorted() {
                    var isDir: ObjCBool = false
                    let path = (base as NSString).appendingPathComponent(name)
                    if fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue { entries.append(("\(dir)/\(name)", path)) }
                }
            }
            entries += site?.files.map { ("site/" + $0.archive, $0.disk) } ?? []
            let files = try entries.map { e -> BackupArchive.Manifest.File in
                guard let digest = FileDigest.sha256(ofFile: e.disk) else { throw BackupError.io("cannot read \(e.disk)") }
                return .init(path: e.archive, size: digest.size, sha256: digest.hex)
            }
            let manifest = BackupArchive.Manifest(files: files, identityMigrations: migrations, auditHeadSeq: head.seq, auditHeadHash: head.hash, home: home)
            let disk = Dictionary(uniqueKeysWithValues: entries.map { ($0.archive, $0.disk) })
            try BackupArchive.write(to: output, manifest: manifest, source: { disk[$0]! }, key: key)
            return manifest
        } catch let e as BackupError { throw e } catch { throw BackupError.io("backing up \(home): \(error)") }
    }

    /// SQLite's online backup of one database file into a new one.
    static func snapshot(_ source: String, to target: String) throws {
        var config = Configuration()
        config.readonly = true
        let from = try DatabaseQueue(path: source, configuration: config)
        let to = try DatabaseQueue(path: target)
        try from.backup(to: to)
        try to.close()
        try from.close()
    }

    /// What a restore did.
    public struct Restored: Sendable {
        public var files: Int
        public var auditHeadSeq: Int64
        public var archiveCreated: Date
        public var archiveWarden: String
        /// Where the site's files went, if the archive had them.
        public var siteDirectory: String?
        /// Where what the restore replaced was moved (nothing is deleted).
        public var replacedInto: String?
    }

    /// Restores an archive into `home`. Refused when the home already holds an identity
    /// database or an audit log, unless `replacing` (then what was there is moved aside, not
    /// deleted, and the restored log records what it replaced); refused when the archive's
    /// database needs a migration this build does not know. `audit` is called with the
    /// restore's own event to append, after the files are in place.
    public static func restore(from archive: String, into home: String, key: BackupArchive.KeySource, knownMigrations: [String], replacing: Bool,
                               siteDirectory: String?, by op: String) throws(BackupError) -> Restored {
        let fm = FileManager.default
        let existing = [identity, audit, "audit.head", "keys/template.key"].filter { fm.fileExists(atPath: (home as NSString).appendingPathComponent($0)) }
        var replacedHead: (seq: Int64, hash: String)? = nil
        if !existing.isEmpty {
            if fm.fileExists(atPath: (home as NSString).appendingPathComponent(audit)) {
                replacedHead = try? AuditStore(path: (home as NSString).appendingPathComponent(audit), readOnly: true).newestRow()
            }
            guard replacing else {
                throw BackupError.refused("\(home) is not empty (it holds \(existing.joined(separator: ", "))"
                                          + (replacedHead.map { "; its audit log's newest row is #\($0.seq)" } ?? "")
                                          + "): restore into an empty home, or give --replace-existing to move what is there aside and record that in the restored log")
            }
        }
        let staging = (home as NSString).appendingPathComponent(".restore-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(atPath: staging) }
        var manifest: BackupArchive.Manifest? = nil
        let header: BackupArchive.Header
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            header = try BackupArchive.read(from: archive, key: key, manifest: { m in
                let unknown = m.identityMigrations.filter { !knownMigrations.contains($0) }
                guard unknown.isEmpty else {
                    throw BackupError.refused("\(archive) was made by a newer Warden: its identity database has migration\(unknown.count == 1 ? "" : "s") "
                                              + "\(unknown.joined(separator: ", ")) this Warden \(WardenVersion.current) does not know; restore it with that version or later")
                }
                for f in m.files {
                    guard !f.path.hasPrefix("/"), !f.path.split(separator: "/").contains("..") else { throw BackupError.damaged("\(archive) names a file outside the home: \(f.path)") }
                }
                manifest = m
            }, file: { f, bytes in
                let path = (staging as NSString).appendingPathComponent(f.path)
                try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                guard fm.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else { throw BackupError.io("cannot write \(path)") }
            })
        } catch let e as BackupError { throw e } catch { throw BackupError.io("restoring into \(home): \(error)") }
        guard let manifest else { throw BackupError.damaged("\(archive) has no manifest") }

        // Everything read and checked: now the home changes. What was there goes aside.
        var replacedInto: String? = nil
        do {
            try fm.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if !existing.isEmpty {
                let aside = (home as NSString).appendingPathComponent("replaced-by-restore-\(Int(Date().timeIntervalSince1970))")
                try fm.createDirectory(atPath: aside, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                for name in [identity, identity + "-wal", identity + "-shm", audit, audit + "-wal", audit + "-shm", "audit.head", "keys", "fleet", "matching.yaml", "door-modes.json"]
                where fm.fileExists(atPath: (home as NSString).appendingPathComponent(name)) {
                    try fm.moveItem(atPath: (home as NSString).appendingPathComponent(name), toPath: (aside as NSString).appendingPathComponent(name))
                }
                replacedInto = aside
            }
            var siteOut: String? = nil
            for f in manifest.files {
                let from = (staging as NSString).appendingPathComponent(f.path)
                var to = (home as NSString).appendingPathComponent(f.path)
                if f.path.hasPrefix("site/") {
                    let dir = siteDirectory ?? (home as NSString).appendingPathComponent("restored-site")
                    siteOut = dir
                    to = (dir as NSString).appendingPathComponent(String(f.path.dropFirst(5)))
                    if fm.fileExists(atPath: to) { throw BackupError.refused("\(to) exists; give --site-to an empty directory for the site's files") }
                }
                try fm.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try fm.moveItem(atPath: from, toPath: to)
            }
            // The restored log records its own restore (and what it replaced), and its head
            // file starts from its restored rows.
            let restoredHead = (seq: manifest.auditHeadSeq, hash: manifest.auditHeadHash)
            let store = try AuditStore(home: home)
            var detail = ["archive": archive, "archive_created": AuditTime.utc(header.createdAt), "archive_warden": header.wardenVersion,
                          "files": String(manifest.files.count), "restored_head_seq": String(restoredHead.seq)]
            if let r = replacedHead {
                detail["replaced_head_seq"] = String(r.seq); detail["replaced_head_hash"] = r.hash
                detail["acknowledged"] = "--replace-existing"
            }
            if let replacedInto { detail["replaced_files_moved_to"] = replacedInto }
            try store.adoptRestored(AuditEvent.admin("admin.restore", operator: op, subject: "home", detail: detail))
            return Restored(files: manifest.files.count, auditHeadSeq: restoredHead.seq, archiveCreated: header.createdAt, archiveWarden: header.wardenVersion,
                            siteDirectory: siteOut, replacedInto: replacedInto)
        } catch let e as BackupError { throw e } catch { throw BackupError.io("restoring into \(home): \(error)") }
    }
}
