import Foundation
import WardenCore

/// A value from a peer (a request, a heartbeat, an upload, a form) that is out of the range
/// Warden accepts for it. The message names the field, so the 400 it becomes tells the
/// sender exactly what to change.
public struct InvalidField: Error, CustomStringConvertible, Sendable, Equatable {
    public let field: String
    public let problem: String
    public init(_ field: String, _ problem: String) { self.field = field; self.problem = problem }
    public var description: String { "\(field): \(problem)" }
}

/// The ranges every value from the network is parsed into. Why here, once: a Double turned
/// into an Int, a Date handed to PostgreSQL's encoder (microseconds since 2000 as an Int64)
/// or a revision subtracted from another traps the whole process when the value is out of
/// range; Swift cannot catch that, so the value must never get that far. Server, console
/// and boards use these same checks.
public enum PeerInput {
    /// Dates Warden stores: 1970-01-01 to 9999-12-31 (PostgreSQL's encoder traps beyond about
    /// ±292,000 years; nothing at a door needs a date before 1970 or after 9999).
    public static let earliestDate = Date(timeIntervalSince1970: 0)
    public static let latestDate = Date(timeIntervalSince1970: 253_402_300_799)
    /// The longest text field a peer may send, unless a field says otherwise.
    public static let defaultMaxTextBytes = 4096

    public static func date(_ seconds: Double, _ field: String) throws(InvalidField) -> Date {
        guard seconds.isFinite else { throw InvalidField(field, "'\(seconds)' is not a time (seconds since 1970-01-01 UTC)") }
        let d = Date(timeIntervalSince1970: seconds)
        try check(d, field)
        return d
    }

    public static func check(_ date: Date?, _ field: String) throws(InvalidField) {
        guard let date else { return }
        let s = date.timeIntervalSince1970
        guard s.isFinite, date >= earliestDate, date <= latestDate else {
            throw InvalidField(field, "\(s) is outside the dates Warden accepts (1970-01-01 to 9999-12-31)")
        }
    }

    public static func check<I: BinaryInteger>(_ value: I, _ field: String, in range: ClosedRange<I>) throws(InvalidField) {
        guard range.contains(value) else { throw InvalidField(field, "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
    }

    public static func check(_ value: Double, _ field: String, in range: ClosedRange<Double>) throws(InvalidField) {
        guard value.isFinite, range.contains(value) else { throw InvalidField(field, "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
    }

    /// Text a database and a terminal can hold: at most `maxBytes` of UTF-8, no NUL (which
    /// PostgreSQL's text cannot store) and, unless `lines`, none of `DisplayText`'s control
    /// characters (names, ids and versions are printed on operators' terminals and pages).
    public static func check(_ text: String?, _ field: String, maxBytes: Int = defaultMaxTextBytes, lines: Bool = false) throws(InvalidField) {
        guard let text else { return }
        guard text.utf8.count <= maxBytes else { throw InvalidField(field, "\(text.utf8.count) bytes is longer than the \(maxBytes) allowed") }
        for u in text.unicodeScalars {
            if u.value == 0 { throw InvalidField(field, "contains U+0000, which cannot be stored") }
            if lines && (u == "\n" || u == "\r" || u == "\t") { continue }
            if DisplayText.isControl(u) { throw InvalidField(field, "contains the control character \(DisplayText.escapingControls(String(u)))") }
        }
    }

    // MARK: query parameters

    /// `?name=` as a whole number within `range`; `fallback` when absent or empty.
    public static func integer(_ text: String?, _ field: String, in range: ClosedRange<Int64>, default fallback: Int64) throws(InvalidField) -> Int64 {
        guard let text, !text.isEmpty else { return fallback }
        guard let v = Int64(text) else { throw InvalidField(field, "'\(text.prefix(40))' is not a whole number") }
        try check(v, field, in: range)
        return v
    }

    /// `?name=` as a number of seconds within `range`; `fallback` when absent or empty.
    public static func seconds(_ text: String?, _ field: String, in range: ClosedRange<Double>, default fallback: Double) throws(InvalidField) -> Double {
        guard let text, !text.isEmpty else { return fallback }
        guard let v = Double(text) else { throw InvalidField(field, "'\(text.prefix(40))' is not a number of seconds") }
        try check(v, field, in: range)
        return v
    }

    /// `?name=` as a time in seconds since 1970 (UTC); nil when absent or empty.
    public static func time(_ text: String?, _ field: String) throws(InvalidField) -> Date? {
        guard let text, !text.isEmpty else { return nil }
        guard let v = Double(text) else { throw InvalidField(field, "'\(text.prefix(40))' is not a time (seconds since 1970-01-01 UTC)") }
        return try date(v, field)
    }
}

/// A message a peer sends, with the ranges of its own fields. The server decodes every
/// body through `FleetJSON`, which checks each date, and then calls `checkFields`, so no
/// handler sees a value out of range.
public protocol CheckedMessage: Decodable {
    func checkFields() throws(InvalidField)
}
