import Crypto
import _CryptoExtras
import Foundation
import WardenCore

/// A Warden backup: one file, encrypted, self-describing.
///
///     "WARDEN-BACKUP\n" | header length (4 bytes, big-endian) | header (JSON, in clear)
///     | chunks: length (4 bytes) | AES-256-GCM sealed box (nonce, ciphertext, tag)
///
/// The header says how the key is made (scrypt from a passphrase, with its salt and cost, or
/// a key file) and carries a key check, so a wrong passphrase is told apart from a damaged
/// file. The plaintext is a manifest (JSON) followed by each file's bytes; it is sealed in
/// 1 MiB chunks, each bound to the header, its index and whether it is the last, so chunks
/// cannot be reordered, dropped or cut off without the opening failing. Every file's
/// SHA-256 is in the manifest and checked again on restore.
public enum BackupArchive {
    static let magic = Array("WARDEN-BACKUP\n".utf8)
    public static let formatVersion = 1
    static let chunkSize = 1 << 20

    public struct Header: Codable, Equatable, Sendable {
        public var format: Int
        public var wardenVersion: String
        public var createdAt: Date
        /// "scrypt" (a passphrase) or "key-file".
        public var keySource: String
        public var salt: String
        public var scryptRounds: Int?
        /// HMAC-SHA256 of a fixed label under the key: tells a wrong passphrase from damage.
        public var keyCheck: String
    }

    /// What the archive holds.
    public struct Manifest: Codable, Equatable, Sendable {
        public struct File: Codable, Equatable, Sendable {
            /// Relative to the home (or `site/...` for the site's files).
            public var path: String
            public var size: Int
            public var sha256: String
        }
        public var files: [File]
        /// The identity database's migrations, in order: a build that does not know one
        /// cannot open it.
        public var identityMigrations: [String]
        /// The audit log's newest row when the snapshot was taken.
        public var auditHeadSeq: Int64
        public var auditHeadHash: String
        /// The home the backup was taken from, for the record.
        public var home: String
    }

    /// How the archive's key is given.
    public enum KeySource: Sendable {
        case passphrase(String)
        /// 32 random bytes in a file (`warden backup --new-key-file` writes one).
        case keyFile(String)
    }

    /// scrypt's cost: 2^15 rounds of 8 x 128 bytes, about 32 MiB and a fraction of a second
    /// on a board: slow enough to make guessing costly, small enough for a Raspberry Pi.
    static let scryptRounds = 1 << 15

    static func deriveKey(_ source: KeySource, salt: [UInt8], rounds: Int?) throws(BackupError) -> SymmetricKey {
        switch source {
        case .passphrase(let p):
            guard p.utf8.count >= 8 else { throw BackupError.badKey("a backup passphrase needs at least 8 characters") }
            do {
                return try KDF.Scrypt.deriveKey(from: Array(p.utf8), salt: salt, outputByteCount: 32, rounds: rounds ?? scryptRounds, blockSize: 8, parallelism: 1)
            } catch { throw BackupError.badKey("the passphrase could not be turned into a key: \(error)") }
        case .keyFile(let path):
            guard let data = FileManager.default.contents(atPath: path) else { throw BackupError.badKey("cannot read the key file \(path)") }
            guard data.count == 32 else { throw BackupError.badKey("\(path) is not a backup key file (it is \(data.count) bytes; a key file is 32)") }
            return SymmetricKey(data: data)
        }
    }

    static func keyCheck(_ key: SymmetricKey) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array("warden backup key check".utf8), using: key))
    }

    /// Writes a new key file: 32 random bytes, owner-only.
    public static func writeNewKeyFile(_ path: String) throws(BackupError) {
        guard !FileManager.default.fileExists(atPath: path) else { throw BackupError.refused("\(path) exists; a key file is never overwritten (archives sealed with it would be lost)") }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o400]) else {
            throw BackupError.io("cannot write the key file \(path)")
        }
    }

    // MARK: Writing

    /// Seals `manifest` and the files (`source(path)` gives each file's bytes on disk) into
    /// `output`, written to a temporary file first and renamed into place.
    static func write(to output: String, manifest: Manifest, source: (String) -> String, key keySource: KeySource) throws(BackupError) {
        var salt = [UInt8](repeating: 0, count: 16)
        for i in salt.indices { salt[i] = UInt8.random(in: 0...255) }
        let isPassphrase: Bool
        if case .passphrase = keySource { isPassphrase = true } else { isPassphrase = false }
        let key = try deriveKey(keySource, salt: salt, rounds: isPassphrase ? scryptRounds : nil)
        let header = Header(format: formatVersion, wardenVersion: WardenVersion.current, createdAt: Date(), keySource: isPassphrase ? "scrypt" : "key-file",
                            salt: Hex.encode(salt), scryptRounds: isPassphrase ? scryptRounds : nil, keyCheck: keyCheck(key))
        let temp = output + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: nil, attributes: [.posixPermissions: 0o600]),
              let out = FileHandle(forWritingAtPath: temp) else { throw BackupError.io("cannot create \(temp)") }
        do {
            defer { try? out.close() }
            let headerBytes = try canonicalJSON(header)
            out.write(Data(magic)); out.write(Data(be32(headerBytes.count))); out.write(Data(headerBytes))
            var sealer = ChunkSealer(key: key, header: headerBytes, out: out)
            let manifestBytes = try canonicalJSON(manifest)
            try sealer.add(be32(manifestBytes.count) + manifestBytes)
            for f in manifest.files {
                guard let h = FileHandle(forReadingAtPath: source(f.path)) else { throw BackupError.io("cannot read \(source(f.path))") }
                defer { try? h.close() }
                while let piece = try h.read(upToCount: chunkSize), !piece.isEmpty { try sealer.add(Array(piece)) }
            }
            try sealer.finish()
            try out.synchronize()
        } catch let e as BackupError {
            try? FileManager.default.removeItem(atPath: temp); throw e
        } catch {
            try? FileManager.default.removeItem(atPath: temp); throw BackupError.io("writing \(output): \(error)")
        }
        if rename(temp, output) != 0 {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temp)
            throw BackupError.io("cannot move the archive into place at \(output): \(why)")
        }
    }

    /// Buffers plaintext and seals it a chunk at a time.
    struct ChunkSealer {
        let key: SymmetricKey
        let headerDigest: [UInt8]
        let out: FileHandle
        var buffer: [UInt8] = []
        var index: UInt64 = 0
        init(key: SymmetricKey, header: [UInt8], out: FileHandle) {
            self.key = key; self.out = out; self.headerDigest = Array(SHA256.hash(data: header))
        }
        mutating func add(_ bytes: [UInt8]) throws {
            buffer += bytes
            while buffer.count > BackupArchive.chunkSize {
                try seal(Array(buffer.prefix(BackupArchive.chunkSize)), last: false)
                buffer.removeFirst(BackupArchive.chunkSize)
            }
        }
        mutating func finish() throws { try seal(buffer, last: true); buffer = [] }
        mutating func seal(_ plain: [UInt8], last: Bool) throws {
            let box = try AES.GCM.seal(plain, using: key, authenticating: BackupArchive.chunkAAD(headerDigest, index, last))
            let combined = Array(box.combined!)
            out.write(Data(be32(combined.count) + combined))
            index += 1
        }
    }

    static func chunkAAD(_ headerDigest: [UInt8], _ index: UInt64, _ last: Bool) -> [UInt8] {
        headerDigest + withUnsafeBytes(of: index.bigEndian) { Array($0) } + [last ? 1 : 0]
    }

    // MARK: Reading

    /// Opens an archive: checks the key, then every chunk, in order, to the last; calls
    /// `manifest` with the manifest and `file` with each file's bytes as they come.
    static func read(from input: String, key keySource: KeySource, manifest onManifest: (Manifest) throws -> Void,
                     file onFile: (Manifest.File, [UInt8]) throws -> Void) throws(BackupError) -> Header {
        guard let h = FileHandle(forReadingAtPath: input) else { throw BackupError.io("cannot read \(input)") }
        defer { try? h.close() }
        do {
            guard let m = try h.read(upToCount: magic.count), Array(m) == magic else { throw BackupError.notAnArchive("\(input) is not a Warden backup") }
            let headerBytes = try readExactly(h, try readLength(h, what: "header", limit: 1 << 16))
            guard let header = try? decoder().decode(Header.self, from: Data(headerBytes)) else { throw BackupError.notAnArchive("\(input): its header is not readable") }
            guard header.format == formatVersion else {
                throw BackupError.refused("\(input) is a format-\(header.format) backup (Warden \(header.wardenVersion)); this Warden \(WardenVersion.current) reads format \(formatVersion)")
            }
            if case .passphrase = keySource, header.keySource != "scrypt" { throw BackupError.badKey("this backup was sealed with a key file, not a passphrase: give --key-file") }
            if case .keyFile = keySource, header.keySource != "key-file" { throw BackupError.badKey("this backup was sealed with a passphrase, not a key file: give --passphrase-stdin") }
            guard let salt = Hex.decode(header.salt) else { throw BackupError.notAnArchive("\(input): its header is damaged (salt)") }
            let key = try deriveKey(keySource, salt: salt, rounds: header.scryptRounds)
            guard keyCheck(key) == header.keyCheck else { throw BackupError.badKey("wrong passphrase or key file for \(input)") }
            let digest = Array(SHA256.hash(data: headerBytes))
            // The plaintext stream, opened chunk by chunk.
            var plain: [UInt8] = [], index: UInt64 = 0, ended = false
            func more() throws {
                guard !ended else { throw BackupError.damaged("\(input) ends early") }
                let length = try readLength(h, what: "chunk \(index)", limit: chunkSize + 64)
                let sealed = try readExactly(h, length)
                // The last chunk is the one whose tag verifies as last.
                for last in [false, true] {
                    if let box = try? AES.GCM.SealedBox(combined: sealed),
                       let opened = try? AES.GCM.open(box, using: key, authenticating: chunkAAD(digest, index, last)) {
                        plain += opened; index += 1; ended = last; return
                    }
                }
                throw BackupError.damaged("\(input): chunk \(index) does not verify (the file was changed or cut)")
            }
            func take(_ n: Int) throws -> [UInt8] {
                while plain.count < n { try more() }
                defer { plain.removeFirst(n) }
                return Array(plain.prefix(n))
            }
            let manifestLength = try take(4).reduce(0) { $0 << 8 | Int($1) }
            guard manifestLength < 64 << 20, let manifest = try? decoder().decode(Manifest.self, from: Data(try take(manifestLength))) else {
                throw BackupError.damaged("\(input): its manifest is not readable")
            }
            try onManifest(manifest)
            for f in manifest.files {
                let bytes = try take(f.size)
                guard Hex.encode(SHA256.hash(data: bytes)) == f.sha256 else { throw BackupError.damaged("\(input): \(f.path) does not match its SHA-256") }
                try onFile(f, bytes)
            }
            while !ended { try more() }
            guard plain.isEmpty, try h.read(upToCount: 1)?.isEmpty ?? true else { throw BackupError.damaged("\(input) has bytes after its last chunk") }
            return header
        } catch let e as BackupError { throw e } catch { throw BackupError.io("reading \(input): \(error)") }
    }

    static func readLength(_ h: FileHandle, what: String, limit: Int) throws -> Int {
        let b = try readExactly(h, 4)
        let n = b.reduce(0) { $0 << 8 | Int($1) }
        guard n <= limit else { throw BackupError.damaged("the archive's \(what) claims \(n) bytes") }
        return n
    }

    static func readExactly(_ h: FileHandle, _ n: Int) throws -> [UInt8] {
        guard n > 0 else { return [] }
        guard let d = try h.read(upToCount: n), d.count == n else { throw BackupError.damaged("the archive ends early") }
        return Array(d)
    }

    static func be32(_ n: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(n).bigEndian) { Array($0) } }

    static func canonicalJSON<T: Encodable>(_ value: T) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return Array(try e.encode(value))
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// Why a backup or a restore did not happen, in words a person can act on.
public enum BackupError: Error, CustomStringConvertible, Equatable {
    case badKey(String), notAnArchive(String), damaged(String), refused(String), io(String)
    public var description: String {
        switch self {
        case .badKey(let s), .notAnArchive(let s), .damaged(let s), .refused(let s), .io(let s): return s
        }
    }
}
