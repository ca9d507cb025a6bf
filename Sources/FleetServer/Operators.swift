import Audit
import Crypto
import FleetProtocol
import Foundation
import HummingbirdBcrypt
import PostgresNIO
import WardenCore

/// What an operator may do. `admin` everything; `enroller` people, badges and enrollment
/// but no grants, policy or controllers; `auditor` read and export only.
public enum OperatorRole: String, Codable, Sendable, CaseIterable {
    case admin, enroller, auditor

    public enum Action: Sendable { case read, enroll, grant, configure, manageFleet }

    public func may(_ action: Action) -> Bool {
        switch (self, action) {
        case (.admin, _): true
        case (.enroller, .read), (.enroller, .enroll): true
        case (.auditor, .read): true
        default: false
        }
    }
}

public struct AuthenticatedOperator: Sendable, Equatable {
    public let name: String
    public let role: OperatorRole
    public init(name: String, role: OperatorRole) { self.name = name; self.role = role }
    public var asOperator: Operator { Operator(name) }
}

/// Per-operator tokens `wop1.NAME.SECRET`, stored as bcrypt hashes. Five failures in 15
/// minutes lock a name out for the rest of that window; every failure is logged centrally.
extension CentralStore {
    public static let lockoutFailures = 5
    public static let lockoutWindow: TimeInterval = 900
    static let bcryptCost: UInt8 = 10

    public func addOperator(_ name: String, role: OperatorRole, by op: Operator, now: Date = Date()) async throws -> String {
        guard !name.isEmpty, name.count <= 64, name.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }) else {
            throw CentralError.invalid("operator name '\(name)' must be 1-64 characters of a-z, 0-9, '-' and '_'")
        }
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Hex.encode($0) }
        let token = "wop1.\(name).\(secret)"
        let hash = Bcrypt.hash(secret, cost: Self.bcryptCost)
        try await transaction { conn in
            try await conn.query("INSERT INTO operator (name, role, token_hash, created_by, created_at) VALUES (\(name), \(role.rawValue), \(hash), \(op.name), \(now))", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.operator_add", operator: op.name, subject: "operator:\(name)", detail: ["role": role.rawValue], at: now)], conn)
        }
        return token
    }

    /// The operator a bearer token belongs to; a wrong or unknown one is counted against
    /// the name it claims.
    public func authenticate(token: String, source: String, now: Date = Date()) async throws -> AuthenticatedOperator {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "wop1", !parts[1].isEmpty else {
            throw CentralError.unauthenticated("not an operator token (expected wop1.NAME.SECRET, as `warden server operator add` prints it)")
        }
        let name = parts[1]
        try await refuseIfLockedOut(name, now: now)
        let row = try await one(client.query("SELECT role, token_hash, disabled_at FROM operator WHERE name = \(name)", logger: logger), (String, String, Date?).self)
        if let (role, hash, disabled) = row, disabled == nil, Bcrypt.verify(parts[2], hash: hash), let r = OperatorRole(rawValue: role) {
            return AuthenticatedOperator(name: name, role: r)
        }
        try await recordLoginFailure(name, source: source, now: now)
        throw CentralError.unauthenticated("the operator token is wrong, or the operator is unknown or disabled")
    }

    /// Refuses a name with `lockoutFailures` failures in the window: an API token and a
    /// console sign-in count against the same lock-out.
    package func refuseIfLockedOut(_ name: String, now: Date) async throws {
        let windowStart = now.addingTimeInterval(-Self.lockoutWindow)
        let failures = try await one(client.query("SELECT count(*) FROM login_failure WHERE operator = \(name) AND at > \(windowStart)", logger: logger), Int64.self) ?? Int64(0)
        if failures >= Int64(Self.lockoutFailures) {
            throw CentralError.tooManyAttempts("operator '\(name)' is locked out after \(failures) failed attempts in \(Int(Self.lockoutWindow / 60)) minutes; try again later")
        }
    }

    /// A failed attempt: counted for the lock-out and chained into the server's log with
    /// where it came from (and `via`, for the console).
    package func recordLoginFailure(_ name: String, source: String, via: String? = nil, now: Date) async throws {
        var detail = ["source": source]
        if let via { detail["via"] = via }
        try await transaction { conn in
            try await conn.query("INSERT INTO login_failure (at, operator, source) VALUES (\(now), \(name), \(source))", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.login_failed", operator: name, subject: "operator:\(name)", detail: detail, at: now)], conn)
        }
    }
}
