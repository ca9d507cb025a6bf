import Foundation

/// A file that appears whole or not at all: written to a temporary file beside its final
/// path, synced, then renamed into place. Every write reports its failure (a full disk,
/// an I/O error) as a thrown error, never a crash, and a failed or abandoned file leaves
/// nothing at the final path. Exports and prune archives use it.
public final class AtomicFile {
    public let path: String
    let temporaryPath: String
    private var fd: Int32
    private var pending = Data()
    private var finished = false

    /// Refuses to replace an existing file unless `replace` is set.
    public init(path: String, replace: Bool = false, permissions: mode_t = 0o600) throws {
        self.path = path
        if !replace, FileManager.default.fileExists(atPath: path) { throw AuditError.invalid("\(path) exists; choose a new file") }
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        temporaryPath = ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent(".\(base).partial-\(getpid())")
        unlink(temporaryPath)
        fd = open(temporaryPath, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw AuditError.invalid("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { if !finished { abandon() } }

    /// Buffers, and writes in 64 KiB blocks.
    public func write(_ text: String) throws {
        pending.append(contentsOf: text.utf8)
        if pending.count >= 1 << 16 { try drain() }
    }

    private func drain() throws {
        var offset = 0
        while offset < pending.count {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let why = errno == ENOSPC ? "the disk is full" : String(cString: strerror(errno))
                abandon()
                throw AuditError.invalid("cannot write \(path): \(why); nothing was left at that path")
            }
            offset += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Syncs and renames into place.
    public func commit() throws {
        try drain()
        guard fsync(fd) == 0 else {
            let why = errno == ENOSPC ? "the disk is full" : String(cString: strerror(errno))
            abandon()
            throw AuditError.invalid("cannot write \(path): \(why); nothing was left at that path")
        }
        close(fd)
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            let why = String(cString: strerror(errno))
            abandon()
            throw AuditError.invalid("cannot move the finished file to \(path): \(why)")
        }
        finished = true
    }

    /// Removes the temporary file; the final path is untouched.
    public func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        finished = true
    }
}
