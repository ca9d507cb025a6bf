import Foundation

/// Who made an administrative change: `--operator NAME`, else the OS user running the
/// command. Recorded with every change so the audit trail can say who did what.
public struct Operator: Sendable, Hashable, Codable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) { self.name = name }

    /// The explicit name if given, else the login name of the effective user. Callers
    /// check an explicit name with `problem(with:)` first.
    public static func resolve(explicit: String?) -> Operator {
        if let explicit, !explicit.isEmpty { return Operator(explicit) }
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return Operator("os:" + String(cString: name)) }
        return Operator("os:uid\(geteuid())")
    }

    public var description: String { name }
}

extension Operator {
    /// Why an explicit operator name is refused (control characters would forge lines in
    /// the audit trail), or nil.
    public static func problem(with explicit: String?) -> String? {
        explicit.flatMap { DisplayText.problem($0, as: "an operator name", maxLength: 100) }
    }
}
