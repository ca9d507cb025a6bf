import Crypto
import FaceKit
import Foundation

/// Face templates are encrypted at rest with AES-256-GCM. Each row has its own random
/// nonce, and the associated data binds the person id and the model id, so a template
/// copied onto another person (or presented as another model's) fails to decrypt.
///
/// Stored form: "WENC", version 1, the key id (first 8 bytes of SHA-256 of the key), then
/// nonce, ciphertext and tag (AES.GCM's combined form).
public struct TemplateCipher: @unchecked Sendable {  // SymmetricKey is immutable
    let key: SymmetricKey
    public let keyID: Data

    public init(key: SymmetricKey) {
        self.key = key
        keyID = Data(SHA256.hash(data: key.withUnsafeBytes { Data($0) }).prefix(8))
    }

    static let magic = Data("WENC".utf8)

    static func aad(personID: Int64, modelID: String) -> Data { Data("person:\(personID)|model:\(modelID)".utf8) }

    public func seal(_ embedding: Embedding, personID: Int64) throws -> Data {
        let box = try AES.GCM.seal(Data(embedding.serialized()), using: key, authenticating: Self.aad(personID: personID, modelID: embedding.modelID))
        return Self.magic + Data([1]) + keyID + box.combined!
    }

    /// Seals a secret other than a template (an OSDP reader's key) in the same form, bound
    /// by `context` ("osdp-scbk|door:lobby"): moved to another row, it fails to open.
    public func sealSecret(_ secret: [UInt8], context: String) throws -> Data {
        let box = try AES.GCM.seal(Data(secret), using: key, authenticating: Data("secret|\(context)".utf8))
        return Self.magic + Data([1]) + keyID + box.combined!
    }

    public func openSecret(_ blob: Data, context: String) throws -> [UInt8] {
        guard let id = Self.keyID(of: blob) else { throw TemplateCipherError.notEncrypted }
        guard id == keyID else { throw TemplateCipherError.wrongKey }
        let box = try AES.GCM.SealedBox(combined: blob.subdata(in: (blob.startIndex + 13)..<blob.endIndex))
        do { return [UInt8](try AES.GCM.open(box, using: key, authenticating: Data("secret|\(context)".utf8))) } catch {
            throw TemplateCipherError.authenticationFailed
        }
    }

    /// The key id a stored blob was sealed with (nil: not an encrypted template).
    public static func keyID(of blob: Data) -> Data? {
        guard blob.count > 13, blob.prefix(4) == magic, blob[blob.startIndex + 4] == 1 else { return nil }
        return blob.subdata(in: (blob.startIndex + 5)..<(blob.startIndex + 13))
    }

    public func open(_ blob: Data, personID: Int64, modelID: String) throws -> Embedding {
        guard let id = Self.keyID(of: blob) else { throw TemplateCipherError.notEncrypted }
        guard id == keyID else { throw TemplateCipherError.wrongKey }
        let box = try AES.GCM.SealedBox(combined: blob.subdata(in: (blob.startIndex + 13)..<blob.endIndex))
        let plain: Data
        do { plain = try AES.GCM.open(box, using: key, authenticating: Self.aad(personID: personID, modelID: modelID)) } catch {
            throw TemplateCipherError.authenticationFailed
        }
        return try Embedding(serialized: [UInt8](plain))
    }
}

public enum TemplateCipherError: Error, Equatable, CustomStringConvertible, Sendable {
    case notEncrypted
    case wrongKey
    case authenticationFailed
    case keyFile(String)

    public var description: String {
        switch self {
        case .notEncrypted: return "the template is not encrypted"
        case .wrongKey: return "the template was encrypted with a different key"
        case .authenticationFailed: return "the template does not authenticate: it was altered or moved to another person or model"
        case .keyFile(let s): return s
        }
    }
}

/// The template key in `<home>/keys/template.key`: 32 random bytes, readable by its owner
/// only. Warden refuses a key file that others can read. The systemd alternative: point
/// WARDEN_TEMPLATE_KEY at `$CREDENTIALS_DIRECTORY/template.key` (LoadCredential=).
public enum TemplateKeyFile {
    public static func path(home: String) -> String { (home as NSString).appendingPathComponent("keys/template.key") }

    /// Loads the key, creating it (owner-only) on first use.
    public static func loadOrCreate(path: String) throws -> SymmetricKey {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) { return try load(path: path) }
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = SymmetricKey(size: .bits256)
        try write(key, to: path)
        return key
    }

    public static func load(path: String) throws -> SymmetricKey {
        var st = stat()
        guard stat(path, &st) == 0 else { throw TemplateCipherError.keyFile("cannot read the template key \(path): \(String(cString: strerror(errno)))") }
        if st.st_mode & 0o077 != 0 {
            throw TemplateCipherError.keyFile(String(format: "refusing the template key %@: it is readable by others (mode %o); fix with: chmod 600 %@", path, Int(st.st_mode & 0o777), path))
        }
        guard let data = FileManager.default.contents(atPath: path), data.count == 32 else {
            throw TemplateCipherError.keyFile("the template key \(path) is not 32 bytes")
        }
        return SymmetricKey(data: data)
    }

    /// Writes atomically: a temp file, fsync, rename.
    static func write(_ key: SymmetricKey, to path: String) throws {
        let tmp = path + ".tmp"
        let data = key.withUnsafeBytes { Data($0) }
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw TemplateCipherError.keyFile("cannot write \(tmp)")
        }
        if let h = FileHandle(forWritingAtPath: tmp) { try? h.synchronize(); try? h.close() }
        guard rename(tmp, path) == 0 else { throw TemplateCipherError.keyFile("cannot install the key at \(path): \(String(cString: strerror(errno)))") }
    }
}
