/// A card credential as a reader reports it: the card format, the facility (site) code and
/// the card number. Written `FACILITY:NUMBER` on the command line, e.g. `12:34567`.
public struct BadgeCredential: Sendable, Hashable, Codable, CustomStringConvertible {
    public var format: BadgeFormat
    public var facilityCode: Int
    public var cardNumber: Int64

    public init(format: BadgeFormat = .h10301, facilityCode: Int, cardNumber: Int64) throws(BadgeCredentialError) {
        guard (0...format.maxFacilityCode).contains(facilityCode) else {
            throw .facilityOutOfRange(facilityCode, format: format)
        }
        guard (0...format.maxCardNumber).contains(cardNumber) else {
            throw .cardNumberOutOfRange(cardNumber, format: format)
        }
        self.format = format
        self.facilityCode = facilityCode
        self.cardNumber = cardNumber
    }

    /// Parses `FACILITY:NUMBER` (decimal, optional surrounding spaces).
    public init(parsing text: String, format: BadgeFormat = .h10301) throws(BadgeCredentialError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .malformed(text) }
        let f = parts[0].trimmingASCIISpaces, n = parts[1].trimmingASCIISpaces
        guard !f.isEmpty, !n.isEmpty, f.count <= 10, n.count <= 19,
              f.allSatisfy(\.isASCIIDigit), n.allSatisfy(\.isASCIIDigit),
              let facility = Int(f), let number = Int64(n) else { throw .malformed(text) }
        try self.init(format: format, facilityCode: facility, cardNumber: number)
    }

    public var description: String { "\(facilityCode):\(cardNumber)" }
}

/// Card formats with their field widths. The Wiegand decoder (DoorIO) and the store share
/// these so a number that cannot be on a card is refused at issue time.
public enum BadgeFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// HID 26-bit H10301: 8-bit facility, 16-bit card.
    case h10301 = "H10301"
    /// HID 37-bit H10304: 16-bit facility, 19-bit card.
    case h10304 = "H10304"
    /// HID Corporate 1000, 35 bits: 12-bit company, 20-bit card.
    case corporate1000 = "C1000-35"
    /// A common 34-bit layout: 16-bit facility, 16-bit card.
    case generic34 = "34BIT"

    public var maxFacilityCode: Int {
        switch self {
        case .h10301: return 255
        case .h10304, .generic34: return 65_535
        case .corporate1000: return 4_095
        }
    }

    public var maxCardNumber: Int64 {
        switch self {
        case .h10301, .generic34: return 65_535
        case .h10304: return 524_287
        case .corporate1000: return 1_048_575
        }
    }
}

public enum BadgeCredentialError: Error, Equatable, CustomStringConvertible, Sendable {
    case malformed(String)
    case facilityOutOfRange(Int, format: BadgeFormat)
    case cardNumberOutOfRange(Int64, format: BadgeFormat)

    public var description: String {
        switch self {
        case .malformed(let s):
            return "badge '\(s)' is not FACILITY:NUMBER (two decimal numbers, e.g. 12:34567)"
        case .facilityOutOfRange(let f, let format):
            return "facility code \(f) is outside 0...\(format.maxFacilityCode) for \(format.rawValue) cards"
        case .cardNumberOutOfRange(let n, let format):
            return "card number \(n) is outside 0...\(format.maxCardNumber) for \(format.rawValue) cards"
        }
    }
}

extension Substring {
    var trimmingASCIISpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
