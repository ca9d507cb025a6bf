import Foundation

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
