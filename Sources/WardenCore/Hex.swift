/// Lower-case hexadecimal, as hashes and key ids are written everywhere in Warden. One
/// table lookup per nibble: `String(format: "%02x")` per byte cost 30 µs a hash, and the
/// fleet server hashes every row it ingests.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0x0F)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
