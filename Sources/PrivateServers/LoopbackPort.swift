import Foundation
import Glibc
import WardenCore

/// Ports on 127.0.0.1 for the private servers Warden starts for its tests and benchmarks
/// (PostgreSQL's peers, mosquitto, receivers).
public enum LoopbackPort {
    /// A socket bound to a port the kernel chose, not listening: connections to it are
    /// refused, and no one else can take the port while the caller holds `fd`.
    public static func bound() throws(ChildProcessError) -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = fd >= 0 && withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else {
            let why = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw ChildProcessError("cannot bind a loopback port: \(why)")
        }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// A port nothing listens on now. Released before the caller uses it, so another process
    /// may take it first: a server that can bind port 0 itself should use `bound()`.
    public static func free() throws(ChildProcessError) -> Int {
        let (fd, port) = try bound()
        close(fd)
        return port
    }
}
