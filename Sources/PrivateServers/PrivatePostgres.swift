import Foundation
import WardenCore

/// A private PostgreSQL server for a test or a benchmark: `initdb` into a temporary
/// directory, started with `pg_ctl` on a Unix socket only (no TCP port to collide with),
/// stopped and deleted afterwards. Run as the `postgres` user when run as root (initdb
/// refuses root). Durability is off (`fsync=off`): it holds nothing worth keeping.
public final class PrivatePostgres: @unchecked Sendable {
    public let directory: String
    public let socketDirectory: String
    public let port = 5432
    private let bin: String
    private let asUser: String?

    public static func binaries() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted()
        if let v = versions.last, FileManager.default.isExecutableFile(atPath: "\(base)/\(v)/bin/initdb") { return "\(base)/\(v)/bin" }
        return nil
    }

    /// `otherUsers`: how roles other than `warden` log in over the socket (pg_hba.conf's
    /// method: "trust", or "peer" to meet what a Debian cluster does to a process whose
    /// operating-system user is not the role).
    public init(otherUsers: String = "trust") throws {
        guard let bin = Self.binaries() else {
            throw PrivatePostgresError("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb): run `make setup` (or install Debian's postgresql)")
        }
        self.bin = bin
        asUser = getuid() == 0 ? "postgres" : nil
        directory = NSTemporaryDirectory() + "warden-pg-\(UUID().uuidString.prefix(8))"
        socketDirectory = directory + "/socket"
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if let asUser { try run("/bin/chown", ["-R", asUser, directory], asUser: nil) }
        try run("\(bin)/initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "warden", "--no-sync", "-E", "UTF8"])
        if otherUsers != "trust" {
            try run("/bin/sh", ["-c", "printf 'local all warden trust\\nlocal all all %s\\n' \"$1\" > \"$0\"", "\(directory)/data/pg_hba.conf", otherUsers])
        }
        try run("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
                                  "-o", "-k \(socketDirectory) -c listen_addresses='' -p \(port) -c fsync=off -c max_connections=200", "start"])
        try run("\(bin)/createdb", ["-h", socketDirectory, "-p", String(port), "-U", "warden", "warden"])
    }

    public var url: String { "postgres:///warden?host=\(socketDirectory)&user=warden&port=\(port)" }

    /// Stops the server (a crash when `immediate`), leaving the data in place.
    public func stop(immediate: Bool = false) throws {
        try run("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-w", "-m", immediate ? "immediate" : "fast", "stop"])
    }

    public func start() throws {
        try run("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
                                  "-o", "-k \(socketDirectory) -c listen_addresses='' -p \(port) -c fsync=off -c max_connections=200", "start"])
    }

    /// `pg_dump -Fc` of the database to `file`, as an operator's nightly backup makes it.
    public func dump(to file: String) throws {
        try run("\(bin)/pg_dump", ["-h", socketDirectory, "-p", String(port), "-U", "warden", "-Fc", "-f", file, "warden"], asUser: nil)
    }

    /// `pg_restore --clean` of a dump over the same database, as an operator restores a backup in place.
    public func restore(from file: String) throws {
        try run("\(bin)/pg_restore", ["-h", socketDirectory, "-p", String(port), "-U", "warden", "--clean", "--if-exists", "-d", "warden", file], asUser: nil)
    }

    /// Runs SQL as the database's owner, through psql on the socket.
    public func sql(_ statement: String) throws {
        try run("/usr/bin/psql", ["-h", socketDirectory, "-p", String(port), "-U", "warden", "-d", "warden", "-v", "ON_ERROR_STOP=1", "-qc", statement])
    }

    /// The user PostgreSQL runs as, when the tests are root (files it must own).
    public var owner: String? { asUser }

    /// A test that throws before its own clean-up still stops its server.
    deinit { destroy() }

    public func destroy() {
        guard FileManager.default.fileExists(atPath: directory) else { return }
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func run(_ tool: String, _ args: [String]) throws { try run(tool, args, asUser: asUser) }

    private func run(_ tool: String, _ args: [String], asUser: String?) throws {
        let argv = (asUser.map { ["/usr/sbin/runuser", "-u", $0, "--", tool] } ?? [tool]) + args
        let r = try ChildProcess.run(argv)
        guard r.status == 0 else {
            throw PrivatePostgresError("\(tool) \(args.joined(separator: " ")) failed (\(r.status)): \((r.stdout + r.stderr).suffix(600))")
        }
    }
}

public struct PrivatePostgresError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
