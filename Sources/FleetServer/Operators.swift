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

/// An operator as `warden server operator list` shows them.
public struct OperatorSummary: Codable, Sendable, Equatable {
    public var name: String
    public var role: String
    public var createdBy: String
    public var createdAt: Date
    public var disabledAt: Date?
    public var consolePassword: Bool
    public var secondFactor: Bool
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

    /// Every operator, by name: role, who added them and when, whether they are disabled, and
    /// which console credentials they have (never the credentials themselves).
    public func operators() async throws -> [OperatorSummary] {
        var out: [OperatorSummary] = []
        let rows = try await client.query("""
            SELECT name, role, created_by, created_at, disabled_at, password_hash IS NOT NULL, totp_secret IS NOT NULL FROM operator ORDER BY name
            """, logger: logger)
        for try await (name, role, by, at, disabled, password, totp) in rows.decode((String, String, String, Date, Date?, Bool, Bool).self) {
            out.append(OperatorSummary(name: name, role: role, createdBy: by, createdAt: at, disabledAt: disabled, consolePassword: password, secondFactor: totp))
        }
        return out
    }

    /// Disables an operator (their token, console password and sessions stop working at
    /// once; the account and its history stay) or enables them again. Audited. An operator
    /// is never deleted: the audit log names them.
    public func setOperatorDisabled(_ name: String, _ disabled: Bool, by op: Operator, now: Date = Date()) async throws {
        try await transaction { conn in
            let changed = try await self.one(conn.query("""
                UPDATE operator SET disabled_at = \(disabled ? now : nil) WHERE name = \(name) AND (disabled_at IS NULL) = \(disabled) RETURNING name
                """, logger: self.logger), String.self)
            if changed == nil {
                guard try await self.one(conn.query("SELECT name FROM operator WHERE name = \(name)", logger: self.logger), String.self) != nil else {
                    throw CentralError.notFound("no operator '\(name)' (`warden server operator list` shows them)")
                }
                throw CentralError.conflict("operator '\(name)' is already \(disabled ? "disabled" : "enabled")")
            }
            if disabled {
                try await conn.query("UPDATE console_session SET ended_at = \(now) WHERE operator = \(name) AND ended_at IS NULL", logger: self.logger)
            }
            try await self.appendServerEvents([AuditEvent.admin(disabled ? "admin.operator_disable" : "admin.operator_enable", operator: op.name,
                                                                subject: "operator:\(name)", at: now)], conn)
        }
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
