import Crypto
import Foundation

/// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second
/// steps, six digits, what every authenticator app reads from an otpauth:// URI.
public struct TOTP: Sendable, Equatable {
    public let secret: [UInt8]
    public static let step: TimeInterval = 30
    public static let digits = 6

    public init(secret: [UInt8]) { self.secret = secret }

    /// A new random 160-bit secret, as RFC 4226 recommends.
    public static func generate() -> TOTP {
        TOTP(secret: SymmetricKey(size: .init(bitCount: 160)).withUnsafeBytes { Array($0) })
    }

    public init?(base32 text: String) {
        guard let bytes = Base32.decode(text), bytes.count >= 10 else { return nil }
        secret = bytes
    }

    public var base32: String { Base32.encode(secret) }

    /// The code for the step that holds `date`.
    public func code(at date: Date) -> String { code(counter: UInt64(max(0, date.timeIntervalSince1970) / Self.step)) }

    func code(counter: UInt64) -> String {
        var big = counter.bigEndian
        let message = withUnsafeBytes(of: &big) { Data($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let value = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        let code = String(value % 1_000_000)
        return String(repeating: "0", count: Self.digits - code.count) + code
    }

    /// True for the code of this step or the one either side (a phone's clock may drift by
    /// a few seconds, and a code typed at the end of its step arrives in the next).
    public func accepts(_ typed: String, at date: Date) -> Bool { acceptedStep(typed, at: date) != nil }

    /// The step whose code this is (this step or one either side), or nil. A caller that
    /// remembers the last step used refuses the same code twice.
    public func acceptedStep(_ typed: String, at date: Date) -> UInt64? {
        let code = typed.filter { !$0.isWhitespace }
        guard code.count == Self.digits, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) else { return nil }
        let now = UInt64(max(0, date.timeIntervalSince1970) / Self.step)
        var match: UInt64? = nil
        // Every candidate is compared, in constant time, whichever matches.
        for counter in [now &- 1, now, now + 1] where ConstantTime.equal(self.code(counter: counter), code) { match = counter }
        return match
    }

    /// What an authenticator app scans (as a QR code) or is given by hand.
    public func uri(account: String, issuer: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let i = issuer.addingPercentEncoding(withAllowedCharacters: allowed) ?? "Warden"
        let a = account.addingPercentEncoding(withAllowedCharacters: allowed) ?? "operator"
        return "otpauth://totp/\(i):\(a)?secret=\(base32)&issuer=\(i)&algorithm=SHA1&digits=\(Self.digits)&period=\(Int(Self.step))"
    }
}

/// RFC 4648 base32 without padding, as otpauth URIs carry secrets.
enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    static func encode(_ bytes: [UInt8]) -> String {
        var out = "", buffer = 0, bits = 0
        for b in bytes {
            buffer = (buffer << 8) | Int(b); bits += 8
            while bits >= 5 { out.append(alphabet[(buffer >> (bits - 5)) & 31]); bits -= 5 }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = [], buffer = 0, bits = 0
        for c in text.uppercased() where c != "=" && c != " " {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            buffer = ((buffer << 5) | v) & 0xffff; bits += 5
            if bits >= 8 { out.append(UInt8((buffer >> (bits - 8)) & 0xff)); bits -= 8 }
        }
        return out
    }
}

enum ConstantTime {
    /// Compares without stopping at the first difference, so the time taken tells nothing
    /// of how much of a secret was right.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
