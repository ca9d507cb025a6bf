import Foundation

/// Reads an input file safely: only a regular file (a FIFO would block forever, a device
/// such as /dev/zero never ends), only up to a size limit checked before reading and
/// enforced while reading, through one descriptor so the file checked is the file read.
/// Every input Warden reads from a path (photos, camera folders, policy, site, pin map and
/// matching files) comes through here.
public enum BoundedFile {
    public enum Failure: Error, CustomStringConvertible, Equatable, Sendable {
        case missing(String)
        case notRegular(String, kind: String)
        case tooLarge(String, size: Int, limit: Int)
        case unreadable(String, reason: String)
        case notUTF8(String, offset: Int)

        public var description: String {
            switch self {
            case .missing(let p): return "\(p): no such file"
            case .notRegular(let p, let kind): return "\(p): \(kind), not a regular file; Warden reads only regular files"
            case .tooLarge(let p, let size, let limit): return "\(p): \(size) bytes, over the \(limit)-byte limit"
            case .unreadable(let p, let why): return "\(p): cannot be read (\(why))"
            case .notUTF8(let p, let offset): return "\(p): not valid UTF-8 text (first bad byte at offset \(offset))"
            }
        }
    }

    /// The whole file, at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO with no writer must not wait; cleared for the read.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENOENT { throw .missing(path) }
            throw .unreadable(path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .unreadable(path, reason: String(cString: strerror(errno))) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notRegular(path, kind: "a directory")
        case S_IFIFO: throw .notRegular(path, kind: "a FIFO")
        case S_IFCHR: throw .notRegular(path, kind: "a character device")
        case S_IFBLK: throw .notRegular(path, kind: "a block device")
        case S_IFSOCK: throw .notRegular(path, kind: "a socket")
        default: throw .notRegular(path, kind: "a special file")
        }
        let size = Int(st.st_size)
        guard size <= limit else { throw .tooLarge(path, size: size, limit: limit) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        // The file may grow after fstat: read at most limit + 1 bytes to see it did.
        var out = [UInt8](repeating: 0, count: min(size, limit) + 1)
        var got = 0
        while got < out.count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 { if errno == EINTR { continue }; throw .unreadable(path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            got += n
            if got == out.count, got <= limit { out.append(contentsOf: [UInt8](repeating: 0, count: min(limit + 1 - got, 1 << 20))) }
        }
        guard got <= limit else { throw .tooLarge(path, size: got, limit: limit) }
        out.removeSubrange(got...)
        return out
    }

    /// A UTF-8 text file of at most `limit` bytes (1 MiB by default: configuration files).
    /// Invalid UTF-8 is an error, never a silent fallback.
    public static func readText(_ path: String, limit: Int = 1 << 20) throws(Failure) -> String {
        let bytes = try read(path, limit: limit)
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        // Invalid: find where, for the message.
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while case .scalarValue(let s) = decoder.decode(&it) { offset += UTF8.width(s) }
        throw .notUTF8(path, offset: offset)
    }
}
