import Audit
import FleetProtocol
import Foundation
import Logging
import PostgresNIO
import Storage
import WardenCore

/// What the central store refuses, in words an operator can act on; each maps to one HTTP
/// status so the CLI shows the same message whether it ran locally or at the server.
public enum CentralError: Error, CustomStringConvertible, Sendable, Equatable {
    case newerSchema([String])
    case notFound(String)
    case conflict(String)
    case invalid(String)
    case forbidden(String)
    case unauthenticated(String)
    case tooManyAttempts(String)
    case database(String)

    public var description: String {
        switch self {
        case .newerSchema(let ids): return "the central database was migrated by a newer Warden server (\(ids.joined(separator: ", "))); upgrade this server"
        case .notFound(let s), .conflict(let s), .invalid(let s), .forbidden(let s), .unauthenticated(let s), .tooManyAttempts(let s), .database(let s): return s
        }
    }

    public var httpStatus: Int {
        switch self {
        case .notFound: 404
        case .conflict: 409
        case .invalid: 400
        case .forbidden: 403
        case .unauthenticated: 401
        case .tooManyAttempts: 429
        case .newerSchema, .database: 503
        }
    }
}

/// How to reach PostgreSQL: a `postgres://user:password@host:port/database` URL, or a
/// socket directory (`postgres:///database?host=/run/postgresql&user=warden`).
public struct DatabaseAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String?
    public var port: Int
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String

    public init(parsing text: String) throws {
        guard let c = URLComponents(string: text), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw CentralError.invalid("database '\(text)' is not a postgres:// URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE, or postgres:///DATABASE?host=/socket/dir&user=USER)")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        port = c.port ?? Int(query["port"] ?? "") ?? 5432
        if let h = c.host, !h.isEmpty { host = h; socketDirectory = nil } else {
            host = nil
            socketDirectory = query["host"] ?? "/run/postgresql"
        }
        user = c.user ?? query["user"] ?? "warden"
        password = c.password ?? query["password"]
        let db = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = db.isEmpty ? "warden" : db
    }

    public var description: String {
        let at = host.map { "\($0):\(port)" } ?? "socket \(socketDirectory ?? "?")/.s.PGSQL.\(port)"
        return "postgres \(user)@\(at)/\(database)"
    }

    func clientConfiguration() -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if let host {
            config = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        } else {
            config = .init(unixSocketPath: "\(socketDirectory!)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        config.options.maximumConnections = 16
        return config
    }
}

/// The central store on PostgreSQL. Every replicated change runs in `change`, which takes
/// the next revision under an advisory lock and chains the operator's admin event into
/// the server's own log in the same transaction, so a change and its record commit
/// together, as on a board.
public final class CentralStore: Sendable {
    package let client: PostgresClient
    package let logger: Logger
    /// Seals templates at rest (the server's own key, like a board's `keys/template.key`).
    let cipher: TemplateCipher
    /// The highest revision this server handed out (FeedIdentity.swift).
    package let watermark: FeedWatermark

    public static let notifyChannel = "warden_changes"
    public static let serverControllerID: Int64 = 0

    /// The client must be running (`run()` in a task group) before any call.
    /// `watermarkPath`: where the server keeps the highest revision it handed out (its home);
    /// nil for commands that keep it in memory only.
    public init(client: PostgresClient, templateKey: TemplateCipher, logger: Logger, watermarkPath: String? = nil) {
        self.client = client; self.cipher = templateKey; self.logger = logger
        self.watermark = FeedWatermark(path: watermarkPath)
    }

    /// The pool's own background log is kept to errors: it warns of a query queued in the
    /// instant before `run()` starts, which is harmless and would print with every command.
    public static func makeClient(_ address: DatabaseAddress, logger: Logger) -> PostgresClient {
        var background = logger
        background.logLevel = .error
        return PostgresClient(configuration: address.clientConfiguration(), backgroundLogger: background)
    }

    public func migrate() async throws {
        do { try await CentralSchema.migrate(client, logger: logger) } catch let e as CentralError { throw e } catch {
            throw CentralError.database("cannot migrate the central database: \(String(reflecting: error))")
        }
    }

    public func currentRevision() async throws -> Int64 {
        try await one(client.query("SELECT current_revision FROM feed_state WHERE id = 1", logger: logger), Int64.self) ?? 0
    }

    /// One replicated change: the body gets the connection and the new revision, and
    /// returns its result with the admin event that records it.
    package func change<T: Sendable>(by op: Operator, _ body: @Sendable (PostgresConnection, Int64) async throws -> (T, AuditEvent)) async throws -> T {
        // Never hand a revision out twice: a rewound database gets a new feed id first, in a
        // transaction of its own (so a change that then fails cannot roll the new id back).
        if try await currentRevision() < watermark.value { try await checkRewind() }
        let (result, rev) = try await transaction { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(Locks.changes))", logger: self.logger)
            let rev = try await self.one(conn.query("UPDATE feed_state SET current_revision = current_revision + 1 WHERE id = 1 RETURNING current_revision", logger: self.logger), Int64.self)!
            var (result, event) = try await body(conn, rev)
            var detail = event.detail ?? [:]
            detail["revision"] = String(rev)
            event.detail = detail
            try await self.appendServerEvents([event], conn)
            try await conn.query("SELECT pg_notify(\(Self.notifyChannel), \(String(rev)))", logger: self.logger)
            return (result, rev)
        }
        watermark.raise(to: rev)
        return result
    }

    /// An admin event that changes nothing replicated (a token, a revocation, an operator):
    /// chained into the server's log in the caller's transaction.
    package func appendServerEvents(_ events: [AuditEvent], _ conn: PostgresConnection) async throws {
        guard let (hw, last) = try await one(conn.query("SELECT high_water, last_hash FROM controller WHERE id = 0 FOR UPDATE", logger: logger), (Int64, String?).self) else {
            throw CentralError.database("the central database has no server row (controller 0); was it migrated?")
        }
        var seq = hw, prev = last ?? AuditChain.genesisHash
        var rows: [(AuditRow, AuditEvent)] = []
        for e in events {
            seq += 1
            let r = try AuditChain.row(for: e, seq: seq, prevHash: prev)
            rows.append((r, e)); prev = r.hash
        }
        try await insertRows(rows, controller: Self.serverControllerID, conn)
        try await conn.query("UPDATE controller SET high_water = \(seq), last_hash = \(prev) WHERE id = 0", logger: logger)
    }

    package func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { conn in try await body(conn) }
        } catch let e as PostgresTransactionError {
            throw Self.refusal(e.closureError ?? e.beginError ?? e.commitError ?? e.rollbackError ?? e)
        } catch {
            throw Self.refusal(error)
        }
    }

    /// What a failed transaction tells the caller: its own errors as they are, a unique
    /// key as a conflict, anything else from PostgreSQL in its words.
    package static func refusal(_ error: Error) -> Error {
        switch error {
        case let e as CentralError: return e
        case let e as UploadGap: return e
        case let e as StorageError: return CentralError.invalid(e.description)
        case let e as FleetCertificateError: return CentralError.invalid(e.description)
        case let e as InvalidField: return CentralError.invalid(e.description)
        case let e as PSQLError:
            let message = e.serverInfo?[.message] ?? String(reflecting: e)
            switch e.serverInfo?[.sqlState] {
            case "23505": return CentralError.conflict("that already exists: \(message)")
            // Text PostgreSQL cannot hold (U+0000, bytes that are not UTF-8), a value too long
            // for an index, a number out of a column's range: the caller's input, not the
            // database's failure. The fields that can carry these are checked by name first;
            // this keeps any that slips past a 400.
            case "22021", "22P05", "54000", "22003", "22008", "22007", "22P02":
                return CentralError.invalid("a value in the request cannot be stored: \(message)")
            default: return CentralError.database("the central database refused: \(message)")
            }
        default: return CentralError.database("the central database refused the change: \(error)")
        }
    }

    /// The first row of a result, decoded, or nil when there is none.
    package func one<each C: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, _ type: (repeat each C).Type) async throws -> (repeat each C)? {
        for try await v in rows.decode((repeat each C).self) { return v }
        return nil
    }
}
