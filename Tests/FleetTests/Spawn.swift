import Foundation

/// Runs a program to its end with posix_spawn and waitpid, output to files: Foundation's
/// Process never returned from its wait inside an async test here (the child stayed a
/// zombie), and a server the program starts (pg_ctl) must not hold a pipe open.
enum Spawn {
    struct Result { let status: Int32; let stdout: String; let stderr: String }

    static func run(_ argv: [String], environment: [String: String]? = nil) throws -> Result {
        try start(argv, environment: environment).wait()
    }

    /// A program started and not yet waited for: a board process the test may kill.
    final class Running: @unchecked Sendable {
        let pid: pid_t
        let outPath: String, errPath: String
        init(pid: pid_t, outPath: String, errPath: String) { self.pid = pid; self.outPath = outPath; self.errPath = errPath }

        func kill(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

        func wait() -> Result {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            defer { unlink(outPath); unlink(errPath) }
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return Result(status: code, stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
        }
    }

    static func start(_ argv: [String], environment: [String: String]? = nil) throws -> Running {
        let base = NSTemporaryDirectory() + "warden-spawn-\(UUID().uuidString.prefix(8))"
        let outPath = base + ".out", errPath = base + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of this process reaches the child: a PostgreSQL restarted by pg_ctl
        // kept the test server's listening socket, and the server could not be restarted on
        // its port ("address already in use").
        let limit = min(Int32(sysconf(Int32(_SC_OPEN_MAX))), 65_536)
        for fd in 3..<max(3, limit) where fcntl(fd, F_GETFD) != -1 { posix_spawn_file_actions_addclose(&actions, fd) }
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in env { free(e) } }
        var pid: pid_t = 0
        var envp = env
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cargs, &envp)
        guard rc == 0 else { throw TestPostgresError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        return Running(pid: pid, outPath: outPath, errPath: errPath)
    }
}
