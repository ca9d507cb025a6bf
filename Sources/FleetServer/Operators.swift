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

/// Per-operator tokens `wop1.NAME.SECRET`, stored as bcrypt hashes; checked through the
/// sign-in gate (SignInGate.swift), which counts, limits and logs every failure.
extension CentralStore {
    static let bcryptCost: UInt8 = 10
    /// The hash of no token anyone has, checked when the name is unknown, so that the time a
    /// refusal takes does not tell names apart (63 ms against 4 ms before).
    static let decoyTokenHash = Bcrypt.hash(SymmetricKey(size: .bits256).withUnsafeBytes { Hex.encode($0) }, cost: bcryptCost)

    public func addOperator(_ name: String, role: OperatorRole, by op: Operator, now: Date = Date()) async throws -> String {
        guard OperatorNames.isValid(name) else {
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

    /// The operator a bearer token belongs to. A token that cannot be one is refused before
    /// any lookup; every other is checked at the cost of bcrypt, known name or not.
    public func authenticate(token: String, source: String, now: Date = Date()) async throws -> AuthenticatedOperator {
        let parts = token.utf8.count <= 256 ? token.split(separator: ".", omittingEmptySubsequences: false).map(String.init) : []
        let wellFormed = parts.count == 3 && parts[0] == "wop1" && OperatorNames.isValid(parts[1])
        let attempt = try await admitAttempt(name: wellFormed ? parts[1] : token, source: source, now: now)
        guard wellFormed else {
            try await failed(attempt, now: now)
            throw CentralError.unauthenticated("not an operator token (expected wop1.NAME.SECRET, as `warden server operator add` prints it)")
        }
        let name = parts[1]
        let row = try await one(client.query("SELECT role, token_hash, disabled_at FROM operator WHERE name = \(name)", logger: logger), (String, String, Date?).self)
        let matches = try await CredentialHashing.verify(parts[2], hash: row?.1 ?? Self.decoyTokenHash)
        if let (role, _, disabled) = row, disabled == nil, matches, let r = OperatorRole(rawValue: role) {
            try await succeeded(attempt)
            return AuthenticatedOperator(name: name, role: r)
        }
        try await failed(attempt, now: now)
        throw CentralError.unauthenticated("the operator token is wrong, or the operator is unknown or disabled")
    }
}
