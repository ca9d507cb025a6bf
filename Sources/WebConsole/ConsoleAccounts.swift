import Audit
import Crypto
import FleetServer
import Foundation
import HummingbirdBcrypt
import PostgresNIO
import WardenCore

/// How long a console session lives: idle, and at most, from its login.
public struct SessionLimits: Sendable, Equatable {
    public var idle: TimeInterval
    public var absolute: TimeInterval
    /// Failed logins from one address, in the lock-out window, before that address is refused
    /// for every name (the per-name lock-out alone lets one address try every name).
    public var failuresPerSource: Int
    public init(idle: TimeInterval = 15 * 60, absolute: TimeInterval = 12 * 3600, failuresPerSource: Int = 20) {
        self.idle = idle; self.absolute = absolute; self.failuresPerSource = failuresPerSource
    }

    /// The limits server.yaml's `console:` section sets, the defaults where it is silent.
    public init(_ s: ServerHome.ConsoleSettings?) {
        let d = SessionLimits()
        self.init(idle: s?.idleMinutes.map { $0 * 60 } ?? d.idle, absolute: s?.absoluteHours.map { $0 * 3600 } ?? d.absolute,
                  failuresPerSource: s?.failuresPerAddress ?? d.failuresPerSource)
    }
}

/// A signed-in operator, with the role read from the operator table at this request (a role
/// changed or an operator disabled takes effect at once).
public struct ConsoleSession: Sendable, Equatable {
    public let op: AuthenticatedOperator
    public let csrfToken: String
    /// The SHA-256 of the cookie: the session's key, never the cookie itself.
    let key: String
    public let createdAt: Date
}

/// A new session: the cookie value (shown to the browser once, stored as its hash).
public struct ConsoleLogin: Sendable {
    public let cookie: String
    public let session: ConsoleSession
}

/// Console accounts on the operator table: a password (bcrypt) and, optionally, a TOTP
/// second factor. Failures count against the same per-name lock-out as operator tokens,
/// and against the address they came from.
extension CentralStore {
    public static let minimumPasswordLength = 12

    public func setConsolePassword(_ name: String, password: String, by op: Operator, now: Date = Date()) async throws {
        guard password.count >= Self.minimumPasswordLength, password.utf8.count <= 72 else {
            throw CentralError.invalid("a console password is \(Self.minimumPasswordLength) to 72 bytes long (bcrypt reads no further); a passphrase of a few words is best")
        }
        let hash = try await CredentialHashing.hash(password, cost: 12)
        try await transaction { conn in
            guard try await self.one(conn.query("UPDATE operator SET password_hash = \(hash) WHERE name = \(name) RETURNING name", logger: self.logger), String.self) != nil else {
                throw CentralError.notFound("no operator '\(name)' (`warden server operator add NAME --role ROLE` first)")
            }
            // A new password ends every session signed in with the old one.
            try await conn.query("UPDATE console_session SET ended_at = \(now) WHERE operator = \(name) AND ended_at IS NULL", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.operator_password", operator: op.name, subject: "operator:\(name)", at: now)], conn)
        }
    }

    /// Turns the second factor on (a new secret, returned) or off (nil).
    public func setConsoleTOTP(_ name: String, enabled: Bool, by op: Operator, now: Date = Date()) async throws -> TOTP? {
        let totp = enabled ? TOTP.generate() : nil
        try await transaction { conn in
            guard try await self.one(conn.query("UPDATE operator SET totp_secret = \(totp?.base32) WHERE name = \(name) RETURNING name", logger: self.logger), String.self) != nil else {
                throw CentralError.notFound("no operator '\(name)'")
            }
            try await conn.query("UPDATE console_session SET ended_at = \(now) WHERE operator = \(name) AND ended_at IS NULL", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin(enabled ? "admin.operator_totp_on" : "admin.operator_totp_off", operator: op.name, subject: "operator:\(name)", at: now)], conn)
        }
        return totp
    }

    /// Signs an operator in. Every refusal says the same ("wrong name, password or code"),
    /// so the page tells an attacker nothing of which part was wrong; the audit log says who
    /// tried, from where. The attempt passes the sign-in gate first (SignInGate.swift): a
    /// name or password no operator could have is refused before any lookup, counted and
    /// logged by its length; bcrypt runs off the cooperative pool; a TOTP step works once.
    public func consoleLogin(name: String, password: String, code: String?, source: String, limits: SessionLimits, now: Date = Date()) async throws -> ConsoleLogin {
        let attempt = try await admitAttempt(name: name, source: source, failuresPerSource: limits.failuresPerSource, now: now)
        let refused = CentralError.unauthenticated("wrong name, password or code")
        guard OperatorNames.isValid(name), password.utf8.count <= 1024, (code ?? "").utf8.count <= 32 else {
            try await failed(attempt, via: "console", now: now)
            throw refused
        }
        let row = try await one(client.query("SELECT role, password_hash, totp_secret, disabled_at FROM operator WHERE name = \(name)", logger: logger), (String, String?, String?, Date?).self)
        // An unknown name costs a bcrypt check too, so the time taken does not tell names apart.
        let passwordOK = try await CredentialHashing.verify(password, hash: row?.1 ?? Self.decoyHash)
        if let (role, hash, secret, disabled) = row, hash != nil, disabled == nil, passwordOK, let r = OperatorRole(rawValue: role) {
            var ok = true
            if let secret {
                // RFC 6238 section 5.2: a code is accepted once. The step is claimed atomically,
                // so two sign-ins racing with one code cannot both win.
                if let step = TOTP(base32: secret)?.acceptedStep(code ?? "", at: now) {
                    ok = try await one(client.query("""
                        UPDATE operator SET totp_last_step = \(Int64(step)) WHERE name = \(name) AND (totp_last_step IS NULL OR totp_last_step < \(Int64(step)))
                        RETURNING name
                        """, logger: logger), String.self) != nil
                } else { ok = false }
            }
            if ok {
                let cookie = Self.randomHex(), csrf = Self.randomHex(), key = Self.sessionKey(cookie)
                try await transaction { conn in
                    try await conn.query("""
                        INSERT INTO console_session (token_sha256, operator, csrf_token, source, created_at, last_used_at)
                        VALUES (\(key), \(name), \(csrf), \(source), \(now), \(now))
                        """, logger: self.logger)
                    try await self.appendServerEvents([AuditEvent.admin("admin.console_login", operator: name, subject: "operator:\(name)",
                                                                        detail: ["source": source, "second_factor": secret == nil ? "none" : "totp"], at: now)], conn)
                }
                try await succeeded(attempt)
                return ConsoleLogin(cookie: cookie, session: ConsoleSession(op: AuthenticatedOperator(name: name, role: r), csrfToken: csrf, key: key, createdAt: now))
            }
        }
        try await failed(attempt, via: "console", now: now)
        throw refused
    }

    /// The session a cookie belongs to, if it is still alive; touching it restarts its idle
    /// time unless `touch` is false (the live board's stream, so a screen nobody uses still
    /// signs out).
    public func consoleSession(cookie: String, limits: SessionLimits, touch: Bool = true, now: Date = Date()) async throws -> ConsoleSession? {
        let key = Self.sessionKey(cookie)
        guard let (name, csrf, created, used, role, disabled) = try await one(client.query("""
            SELECT s.operator, s.csrf_token, s.created_at, s.last_used_at, o.role, o.disabled_at
            FROM console_session s JOIN operator o ON o.name = s.operator WHERE s.token_sha256 = \(key) AND s.ended_at IS NULL
            """, logger: logger), (String, String, Date, Date, String, Date?).self) else { return nil }
        let expired = now.timeIntervalSince(used) > limits.idle || now.timeIntervalSince(created) > limits.absolute
        guard !expired, disabled == nil, let r = OperatorRole(rawValue: role) else {
            try await client.query("UPDATE console_session SET ended_at = \(now) WHERE token_sha256 = \(key) AND ended_at IS NULL", logger: logger)
            return nil
        }
        if touch { try await client.query("UPDATE console_session SET last_used_at = \(now) WHERE token_sha256 = \(key)", logger: logger) }
        return ConsoleSession(op: AuthenticatedOperator(name: name, role: r), csrfToken: csrf, key: key, createdAt: created)
    }

    public func consoleLogout(_ session: ConsoleSession, source: String, now: Date = Date()) async throws {
        try await transaction { conn in
            try await conn.query("UPDATE console_session SET ended_at = \(now) WHERE token_sha256 = \(session.key) AND ended_at IS NULL", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.console_logout", operator: session.op.name, subject: "operator:\(session.op.name)",
                                                                detail: ["source": source], at: now)], conn)
        }
    }

    static func randomHex() -> String { SymmetricKey(size: .bits256).withUnsafeBytes { Hex.encode($0) } }
    static func sessionKey(_ cookie: String) -> String { Hex.encode(SHA256.hash(data: Data(cookie.utf8))) }
    /// The hash of no password anyone has, checked when the name is unknown.
    static let decoyHash = Bcrypt.hash(randomHex(), cost: 12)
}
