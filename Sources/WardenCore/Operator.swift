import Foundation

/// Who made an administrative change: `--operator NAME`, else the OS user running the
/// command. Recorded with every change so the audit trail can say who did what.
public struct Operator: Sendable, Hashable, Codable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) { self.name = name }

    /// The explicit name if given, else the login name of the effective user.
    public static func resolve(explicit: String?) -> Operator {
        if let explicit, !explicit.isEmpty { return Operator(explicit) }
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return Operator("os:" + String(cString: name)) }
        return Operator("os:uid\(geteuid())")
    }

    public var description: String { name }
}
