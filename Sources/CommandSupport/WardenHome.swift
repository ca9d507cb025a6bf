import Foundation
import Audit

/// The one data directory that holds all of Warden's state: `--home DIR`, else
/// `WARDEN_HOME`, else `/var/lib/warden` for root, else `$XDG_DATA_HOME/warden`
/// (`~/.local/share/warden` when XDG_DATA_HOME is unset).
public struct WardenHome: Sendable, Equatable {
    public let path: String

    public init(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                isRoot: Bool = getuid() == 0) {
        if let explicit, !explicit.isEmpty {
            path = explicit
        } else if let env = environment["WARDEN_HOME"], !env.isEmpty {
            path = env
        } else if isRoot {
            path = "/var/lib/warden"
        } else if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty {
            path = (xdg as NSString).appendingPathComponent("warden")
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            path = (home as NSString).appendingPathComponent(".local/share/warden")
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Creates the directory, owner-only, if it does not exist.
    public func create() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }
}

extension WardenHome {
    /// Why this home's identity database counts as lost, or nil: the home is established
    /// (the audit log's head records a row, or a template key exists) but `identity.sqlite`
    /// is missing or empty.
    package func lostIdentityDatabase() -> String? {
        let fm = FileManager.default
        let db = file("identity.sqlite")
        let size = (try? fm.attributesOfItem(atPath: db))?[.size] as? Int
        guard size == nil || size == 0 else { return nil }
        var evidence: [String] = []
        if AuditStore.headRecordsRows(home: path) { evidence.append("an audit log head") }
        if fm.fileExists(atPath: file("keys/template.key")) { evidence.append("a template key") }
        guard !evidence.isEmpty else { return nil }
        return "the identity database \(db) is \(size == nil ? "missing" : "empty (0 bytes)"), but this home has \(evidence.joined(separator: " and "))"
    }
}

/// Plain words for a full disk, with the way out.
package enum DiskSpace {
    package static func freeBytes(at path: String) -> UInt64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }

    /// `message`, and when the disk holding `home` is (nearly) full, what that means and how
    /// to recover.
    package static func explain(_ message: String, home: String) -> String {
        let diskish = ["SQLITE_FULL", "disk I/O error", "database or disk is full", "No space left", "disk is full"].contains { message.contains($0) }
        guard diskish, let free = freeBytes(at: home), free < 4 << 20 else { return message }
        return message + ". The disk holding \(home) is full (\(free / 1024) KiB free): free some space, or export the audit log "
            + "to another disk (`warden audit export -o /other/disk/audit.csv`) and prune it "
            + "(`warden audit prune --before DATE --archive /other/disk/audit-archive.jsonl`)"
    }
}

/// Runs `body`, turning audit errors into one-line CLI errors with full-disk advice.
package func audited<T>(home: WardenHome? = nil, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as CLIError { throw e } catch {
        throw CLIError(home.map { DiskSpace.explain("\(error)", home: $0.path) } ?? "\(error)")
    }
}
