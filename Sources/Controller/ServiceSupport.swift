import Foundation

/// systemd's notification protocol (sd_notify), spoken directly: a datagram to
/// $NOTIFY_SOCKET. READY=1 once doors are up, WATCHDOG=1 from the loop, STOPPING=1 on the
/// way out. Without systemd (no NOTIFY_SOCKET) every call is a no-op.
public enum ServiceNotifier {
    public static func notify(_ message: String) {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        // An abstract socket is written with a leading '@' and sent with a leading NUL.
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let maxLen = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < maxLen else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        _ = message.withCString { msg in
            withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, msg, strlen(msg), 0, $0, len) }
            }
        }
    }

    /// How often to send WATCHDOG=1: half of systemd's WatchdogSec, if it set one.
    public static var watchdogInterval: TimeInterval? {
        guard let usec = ProcessInfo.processInfo.environment["WATCHDOG_USEC"].flatMap(Double.init) else { return nil }
        return usec / 2e6
    }
}

/// `<home>/warden.sock`: a Unix socket, owner-only, on which the running controller answers
/// each connection with its status as JSON and closes it. `warden status` reads it.
public final class StatusServer: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let provider: @Sendable () -> Data
    private var thread: Thread?

    public init(path: String, provider: @escaping @Sendable () -> Data) throws {
        self.path = path
        self.provider = provider
        let fd = try LocalSocket.listen(path: path, what: "status socket")
        self.fd = fd
        let t = Thread { [fd, provider] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { if errno == EINTR { continue }; return }
                // A client that never reads must not hold this thread: a short send timeout.
                var tv = timeval(tv_sec: 1, tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                LocalSocket.sendAll(c, [UInt8](provider()))
                close(c)
            }
        }
        t.name = "warden.status"
        thread = t
        t.start()
    }

    public func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd); unlink(path) }

    /// Reads the status a running controller serves at `path`.
    public static func query(path: String) throws -> Data {
        let fd = try LocalSocket.connect(path: path, what: "running controller")
        defer { close(fd) }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }
}

/// The owner-only Unix sockets a running controller serves in its data directory (status,
/// frames): one way to open, connect and answer them.
enum LocalSocket {
    /// Bound and listening, owner-only from the moment it exists.
    static func listen(path: String, what: String, backlog: Int32 = 8) throws -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SiteConfigError(problems: ["cannot create the \(what)"]) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw SiteConfigError(problems: ["\(what) path too long: \(path)"]) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let old = umask(0o077)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else { close(fd); throw SiteConfigError(problems: ["cannot listen on \(path): \(String(cString: strerror(errno)))"]) }
        chmod(path, 0o600)
        return fd
    }

    /// A connected client socket; the caller closes it.
    static func connect(path: String, what: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SiteConfigError(problems: ["cannot create a socket"]) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in Array(path.utf8).prefix(raw.count - 1).enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw SiteConfigError(problems: ["no \(what) answers at \(path) (\(why))"])
        }
        return fd
    }

    /// Everything, or as much as the peer takes. MSG_NOSIGNAL: a client that closed without
    /// reading is an EPIPE here, never a SIGPIPE that would kill the controller.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
    }
}
