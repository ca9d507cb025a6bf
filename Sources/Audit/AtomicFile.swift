import Foundation

/// Writes to a file descriptor through a 64 KiB buffer. Every failure (a full disk, a
/// closed pipe, an I/O error) is thrown with words, never ignored or fatal. Exports use it
/// for standard output, and `AtomicFile` for its temporary file.
public final class DescriptorWriter {
    let fd: Int32
    let name: String
    private var pending = Data()

    public init(fd: Int32, name: String) { self.fd = fd; self.name = name }

    public func write(_ text: String) throws {
        pending.append(contentsOf: text.utf8)
        if pending.count >= 1 << 16 { try flush() }
    }

    public func flush() throws {
        var offset = 0
        while offset < pending.count {
            let n = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError.invalid("cannot write \(name): \(Self.reason(errno))")
            }
            offset += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    static func reason(_ code: Int32) -> String { code == ENOSPC ? "the disk is full" : String(cString: strerror(code)) }
}

/// A file that appears whole or not at all: written to a temporary file beside its final
/// path, synced, then renamed into place. A failed or abandoned file leaves nothing at the
/// final path. Exports and prune archives use it.
public final class AtomicFile {
    public let path: String
    let temporaryPath: String
    private var fd: Int32
    private let out: DescriptorWriter
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
        out = DescriptorWriter(fd: fd, name: path)
    }

    deinit { if !finished { abandon() } }

    public func write(_ text: String) throws { try abandoningOnFailure { try out.write(text) } }

    /// Syncs and renames into place.
    public func commit() throws {
        try abandoningOnFailure {
            try out.flush()
            guard fsync(fd) == 0 else { throw AuditError.invalid("cannot write \(path): \(DescriptorWriter.reason(errno))") }
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

    private func abandoningOnFailure(_ body: () throws -> Void) throws {
        do { try body() } catch {
            abandon()
            throw AuditError.invalid("\(error); nothing was left at that path")
        }
    }

    /// Removes the temporary file; the final path is untouched.
    public func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
        finished = true
    }
}
