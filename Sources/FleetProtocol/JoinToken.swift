import Crypto
import Foundation
import WardenCore

/// A one-time join token: `wj1.ID.SECRET.CAFINGERPRINT`. The id names the token row on the
/// server; the secret is stored there only as a hash; the fingerprint lets the board check
/// it talks to this site's server before it sends anything (like kubeadm's CA hash).
public struct JoinToken: Sendable, Equatable, CustomStringConvertible {
    public let id: String
    public let secret: String
    public let caFingerprint: String

    public static let prefix = "wj1"

    public init(id: String, secret: String, caFingerprint: String) { self.id = id; self.secret = secret; self.caFingerprint = caFingerprint }

    /// A fresh token from the system's CSPRNG (swift-crypto's SymmetricKey draws from it).
    public static func generate(caFingerprint: String) -> JoinToken {
        func hex(_ bytes: Int) -> String { SymmetricKey(size: .init(bitCount: bytes * 8)).withUnsafeBytes { Hex.encode($0) } }
        return JoinToken(id: hex(6), secret: hex(20), caFingerprint: caFingerprint)
    }

    public init(parsing text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        func isHex(_ s: String, _ n: Int) -> Bool { s.count == n && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        guard parts.count == 4, parts[0] == Self.prefix, isHex(parts[1], 12), isHex(parts[2], 40), isHex(parts[3], 64) else {
            throw FleetCertificateError("not a Warden join token (expected wj1.ID.SECRET.CA-FINGERPRINT, as `warden server token create` prints it)")
        }
        id = parts[1]; secret = parts[2]; caFingerprint = parts[3]
    }

    public var description: String { "\(Self.prefix).\(id).\(secret).\(caFingerprint)" }

    /// What the server stores: never the secret itself.
    public var secretHash: String { Self.hash(secret) }

    public static func hash(_ secret: String) -> String { Hex.encode(SHA256.hash(data: Data(secret.utf8))) }
}
