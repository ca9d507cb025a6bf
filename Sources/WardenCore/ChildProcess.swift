import Foundation
import Glibc

/// Runs a program with posix_spawn and waitpid, output to files: Foundation's Process never
/// returned from its wait inside an async test here (the child stayed a zombie), and a
/// server the program starts (pg_ctl) must not hold a pipe open.
public enum ChildProcess {
    public struct Result: Sendable { public let status: Int32; public let stdout: String; public let stderr: String }

    public static func run(_ argv: [String], environment: [String: String]? = nil) throws -> Result {
        try start(argv, environment: environment).wait()
    }

    /// The same, waited for on a thread of its own: an async caller whose process also runs
    /// the server the program talks to must not hold one of the few cooperative threads
    /// (two on a two-core machine) while it waits, or the server starves and the program
    /// times out.
    public static func output(_ argv: [String], environment: [String: String]? = nil) async throws -> Result {
        let running = try start(argv, environment: environment)
        return await withCheckedContinuation { done in
            Thread.detachNewThread { done.resume(returning: running.wait()) }
        }
    }

    /// A program started and not yet waited for: a board process the test may kill.
    public final class Running: @unchecked Sendable {
        public let pid: pid_t
        let outPath: String, errPath: String
        init(pid: pid_t, outPath: String, errPath: String) { self.pid = pid; self.outPath = outPath; self.errPath = errPath }

        public func kill(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

        /// What it has written to standard output so far.
        public func outputSoFar() -> String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

        public func wait() -> Result {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            defer { unlink(outPath); unlink(errPath) }
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return Result(status: code, stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
        }
    }

    public static func start(_ argv: [String], environment: [String: String]? = nil) throws -> Running {
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
        // The child starts with no signal blocked and every handler at its default: the
        // test runner's threads block some (SIGALRM among them), and a mask is inherited,
        // so `mosquitto_sub -W` never timed out.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        var envp = env
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, &cargs, &envp)
        guard rc == 0 else { throw ChildProcessError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        return Running(pid: pid, outPath: outPath, errPath: errPath)
    }
}

public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
