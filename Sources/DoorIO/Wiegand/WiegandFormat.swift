import WardenCore

/// A Wiegand card layout: total bit count, where the facility and card fields sit, and
/// which parity bits check which positions. Positions count from 0, the first bit sent.
public struct WiegandFormat: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var start: Int
        public var length: Int
        public init(start: Int, length: Int) { self.start = start; self.length = length }
    }

    public struct Parity: Sendable, Equatable {
        public enum Kind: String, Sendable { case even, odd }
        /// The parity bit's position.
        public var bit: Int
        public var kind: Kind
        /// The positions it covers (not including itself).
        public var covers: [Int]
        public init(bit: Int, kind: Kind, covers: [Int]) { self.bit = bit; self.kind = kind; self.covers = covers }
    }

    public var name: String
    public var length: Int
    public var facility: Field
    public var card: Field
    /// Checked in order when decoding; computed in order when encoding (a later parity may
    /// cover an earlier one, as Corporate 1000's overall parity does).
    public var parities: [Parity]
    /// The badge format this layout carries (for the identity store).
    public var badgeFormat: BadgeFormat?

    public init(name: String, length: Int, facility: Field, card: Field, parities: [Parity], badgeFormat: BadgeFormat? = nil) {
        self.name = name; self.length = length; self.facility = facility; self.card = card
        self.parities = parities; self.badgeFormat = badgeFormat
    }

    /// HID H10301, 26 bits: even parity over 1-12, facility 1-8, card 9-24, odd parity over 13-24.
    public static let h10301 = WiegandFormat(name: "H10301", length: 26, facility: Field(start: 1, length: 8), card: Field(start: 9, length: 16),
                                             parities: [Parity(bit: 0, kind: .even, covers: Array(1...12)),
                                                        Parity(bit: 25, kind: .odd, covers: Array(13...24))], badgeFormat: .h10301)

    /// A common 34-bit layout (HID H10306 / N10002): facility 1-16, card 17-32.
    public static let generic34 = WiegandFormat(name: "34BIT", length: 34, facility: Field(start: 1, length: 16), card: Field(start: 17, length: 16),
                                                parities: [Parity(bit: 0, kind: .even, covers: Array(1...16)),
                                                           Parity(bit: 33, kind: .odd, covers: Array(17...32))], badgeFormat: .generic34)

    /// HID Corporate 1000, 35 bits: company 2-13, card 14-33; three parities.
    public static let corporate1000 = WiegandFormat(
        name: "C1000-35", length: 35, facility: Field(start: 2, length: 12), card: Field(start: 14, length: 20),
        parities: [Parity(bit: 1, kind: .even, covers: (2...33).filter { $0 % 3 != 1 }),
                   Parity(bit: 34, kind: .odd, covers: (1...33).filter { $0 % 3 != 0 }),
                   Parity(bit: 0, kind: .odd, covers: Array(1...34))], badgeFormat: .corporate1000)

    /// HID H10304, 37 bits: facility 1-16, card 17-35, even parity over 1-18, odd over 18-35.
    public static let h10304 = WiegandFormat(name: "H10304", length: 37, facility: Field(start: 1, length: 16), card: Field(start: 17, length: 19),
                                             parities: [Parity(bit: 0, kind: .even, covers: Array(1...18)),
                                                        Parity(bit: 36, kind: .odd, covers: Array(18...35))], badgeFormat: .h10304)

    public static let standard: [WiegandFormat] = [.h10301, .generic34, .corporate1000, .h10304]

    // MARK: Coding

    /// The bits of a card, first-sent first.
    public func encode(facility f: Int, card c: Int64) -> [Bool]? {
        guard f >= 0, c >= 0, f < (1 << facility.length), c < (Int64(1) << card.length) else { return nil }
        var bits = [Bool](repeating: false, count: length)
        for i in 0..<facility.length { bits[facility.start + i] = (f >> (facility.length - 1 - i)) & 1 == 1 }
        for i in 0..<card.length { bits[card.start + i] = (c >> Int64(card.length - 1 - i)) & 1 == 1 }
        for p in parities {
            let ones = p.covers.filter { bits[$0] }.count
            bits[p.bit] = p.kind == .even ? ones % 2 == 1 : ones % 2 == 0
        }
        return bits
    }

    public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        case wrongLength(got: Int, expected: [Int])
        case parity(bit: Int, kind: Parity.Kind)
        public var description: String {
            switch self {
            case .wrongLength(let got, let expected): return "frame of \(got) bits; expected \(expected.map(String.init).joined(separator: " or "))"
            case .parity(let bit, let kind): return "\(kind.rawValue) parity bit \(bit) does not match"
            }
        }
    }

    public func decode(_ bits: [Bool]) -> Result<(facility: Int, card: Int64), DecodeError> {
        guard bits.count == length else { return .failure(.wrongLength(got: bits.count, expected: [length])) }
        for p in parities {
            let ones = p.covers.filter { bits[$0] }.count + (bits[p.bit] ? 1 : 0)
            if (p.kind == .even && ones % 2 != 0) || (p.kind == .odd && ones % 2 != 1) { return .failure(.parity(bit: p.bit, kind: p.kind)) }
        }
        var f = 0, c: Int64 = 0
        for i in 0..<facility.length { f = f << 1 | (bits[facility.start + i] ? 1 : 0) }
        for i in 0..<card.length { c = c << 1 | (bits[card.start + i] ? 1 : 0) }
        return .success((f, c))
    }
}
