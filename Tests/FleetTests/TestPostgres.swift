import Foundation

/// A private PostgreSQL server for one test: `initdb` into a temporary directory, started
/// with `pg_ctl` on a Unix socket only (no TCP port to collide with), stopped and deleted
/// afterwards. Run as the `postgres` user when the tests run as root (initdb refuses root).
final class TestPostgres: @unchecked Sendable {
    let directory: String
    let socketDirectory: String
    let port = 5432
    private let bin: String
    private let asUser: String?

    static func binaries() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted()
        if let v = versions.last, FileManager.default.isExecutableFile(atPath: "\(base)/\(v)/bin/initdb") { return "\(base)/\(v)/bin" }
        return nil
    }

    init() throws {
        guard let bin = Self.binaries() else {
            throw TestPostgresError("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb): run `make setup`")
        }
        self.bin = bin
        asUser = getuid() == 0 ? "postgres" : nil
        directory = NSTemporaryDirectory() + "warden-pg-\(UUID().uuidString.prefix(8))"
        socketDirectory = directory + "/socket"
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if let asUser { try run("/bin/chown", ["-R", asUser, directory], asUser: nil) }
        try run("\(bin)/initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", "warden", "--no-sync", "-E", "UTF8"])
        try run("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
                                  "-o", "-k \(socketDirectory) -c listen_addresses='' -p \(port) -c fsync=off -c max_connections=200", "start"])
        try run("\(bin)/createdb", ["-h", socketDirectory, "-p", String(port), "-U", "warden", "warden"])
    }

    var url: String { "postgres:///warden?host=\(socketDirectory)&user=warden&port=\(port)" }

    /// Stops the server (a crash when `immediate`), leaving the data in place.
    func stop(immediate: Bool = false) throws {
        try run("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-w", "-m", immediate ? "immediate" : "fast", "stop"])
    }

    func start() throws {
        try run("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
                                  "-o", "-k \(socketDirectory) -c listen_addresses='' -p \(port) -c fsync=off -c max_connections=200", "start"])
    }

    func destroy() {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func run(_ tool: String, _ args: [String]) throws { try run(tool, args, asUser: asUser) }

    /// posix_spawn and waitpid, not Foundation's Process: its wait never returned here
    /// inside an async test (the child stayed a zombie).
    private func run(_ tool: String, _ args: [String], asUser: String?) throws {
        let argv = (asUser.map { ["/usr/sbin/runuser", "-u", $0, "--", tool] } ?? [tool]) + args
        let logPath = NSTemporaryDirectory() + "warden-pg-tool-\(UUID().uuidString.prefix(8)).log"
        defer { unlink(logPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ)
        guard rc == 0 else { throw TestPostgresError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exited == 0 else {
            let out = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw TestPostgresError("\(tool) \(args.joined(separator: " ")) failed (\(exited)): \(out.suffix(600))")
        }
    }
}

struct TestPostgresError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
