import Foundation

/// An exclusive lock on a data directory (`<home>/warden.lock`, flock), held by the one
/// `warden run` that may drive its doors. The kernel drops it when the process ends, however
/// it ends, so a stale lock file never blocks a restart.
public final class HomeLock: @unchecked Sendable {
    private var fd: Int32
    public let path: String

    private init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    public struct Held: Error, CustomStringConvertible {
        public let path: String
        public let holder: String
        public var description: String {
            "another warden run already holds \(path)\(holder.isEmpty ? "" : " (pid \(holder))"); stop it first, or give this one its own --home"
        }
    }

    public static func acquire(home: String) throws -> HomeLock {
        let path = (home as NSString).appendingPathComponent("warden.lock")
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Held(path: path, holder: "cannot open it: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, buf.count, 0)
            close(fd)
            throw Held(path: path, holder: n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        return HomeLock(fd: fd, path: path)
    }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
