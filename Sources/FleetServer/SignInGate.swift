import Audit
import Foundation
import HummingbirdBcrypt
import NIOPosix
import PostgresNIO
import WardenCore

/// Where every credential is checked: an operator's API token, a console password, a
/// board's join token. The order is the point:
/// 1. a credential that cannot be one (too long, not an operator name) is refused before
///    any lookup, and still counted and logged, compactly;
/// 2. the attempt is admitted or refused under one advisory lock, and counted as a failure
///    from that moment, so forty concurrent wrong tokens meet the lock-out after five, not
///    after all forty have been checked;
/// 3. only then the expensive check, on threads of its own with a bound on how many wait;
/// 4. a success takes its count back.
/// Limits: five failures for a name from one address lock that name for that address (so
/// a stranger cannot lock a known operator out from everywhere); `failuresPerName` from all
/// addresses together lock the name; `failuresPerSource` lock an address for every name.
extension CentralStore {
    public static let lockoutFailures = 5
    public static let lockoutWindow: TimeInterval = 900
    public static let failuresPerName = 100
    public static let failuresPerSource = 20

    /// One admitted attempt: a row of `login_failure` until it succeeds.
    package struct SignInAttempt: Sendable {
        let id: Int64
        let name: String
        let source: String
    }

    /// The name as counted and logged: as typed when it could be an operator's name, else
    /// only its length (a 900 KB name costs a few bytes of log, and never reaches an index).
    static func loggedName(_ name: String) -> String {
        OperatorNames.isValid(name) ? name : "(not an operator name, \(name.utf8.count) bytes)"
    }

    package func admitAttempt(name: String, source rawSource: String, failuresPerSource: Int = failuresPerSource, now: Date) async throws -> SignInAttempt {
        // A name no operator can have is limited by its address alone: its log line says only
        // its length, and its lengths are no name to lock.
        let isName = OperatorNames.isValid(name)
        let name = Self.loggedName(name), source = String(rawSource.prefix(64))
        let windowStart = now.addingTimeInterval(-Self.lockoutWindow)
        return try await transaction { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(Locks.signIn))", logger: self.logger)
            let (pair, fromSource, forName) = try await self.one(conn.query("""
                SELECT count(*) FILTER (WHERE operator = \(name) AND source = \(source)), count(*) FILTER (WHERE source = \(source)),
                       count(*) FILTER (WHERE operator = \(name))
                FROM login_failure WHERE at > \(windowStart) AND (operator = \(name) OR source = \(source))
                """, logger: self.logger), (Int64, Int64, Int64).self) ?? (Int64(0), Int64(0), Int64(0))
            let minutes = Int(Self.lockoutWindow / 60)
            if fromSource >= Int64(failuresPerSource) {
                throw CentralError.tooManyAttempts("too many failed sign-ins from \(source); try again in \(minutes) minutes")
            }
            if isName, pair >= Int64(Self.lockoutFailures) || forName >= Int64(Self.failuresPerName) {
                throw CentralError.tooManyAttempts("operator '\(name)' is locked out after \(max(pair, forName)) failed attempts in \(minutes) minutes; try again later")
            }
            let id = try await self.one(conn.query("INSERT INTO login_failure (at, operator, source) VALUES (\(now), \(name), \(source)) RETURNING id", logger: self.logger), Int64.self)!
            return SignInAttempt(id: id, name: name, source: source)
        }
    }

    /// The attempt succeeded: it no longer counts.
    package func succeeded(_ attempt: SignInAttempt) async throws {
        try await client.query("DELETE FROM login_failure WHERE id = \(attempt.id)", logger: logger)
    }

    /// The attempt failed: it keeps counting, and is chained into the server's log with where
    /// it came from (and `via`: console, join).
    package func failed(_ attempt: SignInAttempt, type: String = "admin.login_failed", via: String? = nil, detail extra: [String: String] = [:], now: Date) async throws {
        var detail = extra.merging(["source": attempt.source]) { $1 }
        if let via { detail["via"] = via }
        try await transaction { conn in
            try await self.appendServerEvents([AuditEvent.admin(type, operator: attempt.name, subject: "operator:\(attempt.name)", detail: detail, at: now)], conn)
        }
    }
}

/// Operator names: 1-64 characters of a-z, 0-9, '-' and '_'.
public enum OperatorNames {
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }
    }
}

/// bcrypt, on two threads of its own. On Swift's cooperative pool (two threads on this
/// kind of machine) a burst of wrong passwords held every other request: a board's
/// heartbeat took 4.4 s instead of 5 ms. At most `maximumWaiting` checks wait their turn;
/// beyond that a check is refused at once and the caller tries again.
package enum CredentialHashing {
    static let pool: NIOThreadPool = {
        let p = NIOThreadPool(numberOfThreads: 2)
        p.start()
        return p
    }()
    static let maximumWaiting = 16
    private static let lock = NSLock()
    nonisolated(unsafe) private static var waiting = 0

    package static func verify(_ secret: String, hash: String) async throws -> Bool {
        try await run { Bcrypt.verify(secret, hash: hash) }
    }

    package static func hash(_ secret: String, cost: UInt8) async throws -> String {
        try await run { Bcrypt.hash(secret, cost: cost) }
    }

    private static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        let admitted = lock.withLock { () -> Bool in
            guard waiting < maximumWaiting else { return false }
            waiting += 1
            return true
        }
        guard admitted else { throw CentralError.tooManyAttempts("the server is checking too many sign-ins at once; try again in a few seconds") }
        defer { lock.withLock { waiting -= 1 } }
        return try await pool.runIfActive(body)
    }
}
