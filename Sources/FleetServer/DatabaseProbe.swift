import Foundation
import Logging
import NIOCore
import PostgresNIO

/// One connection to the central database, made before anything is written: `warden
/// server init` fails within seconds, non-zero, saying whom it connected as and what to
/// change. (The connection pool retries a refused login until its circuit breaker trips,
/// more than a minute later, with a message nobody can act on.)
public enum DatabaseProbe {
    /// Connects as the address's user, asks who it is, and closes.
    public static func check(_ address: DatabaseAddress, logger: Logger, timeout: TimeInterval = 10) async throws(DatabaseLoginError) {
        var config: PostgresConnection.Configuration
        if let host = address.host {
            config = .init(host: host, port: address.port, username: address.user, password: address.password, database: address.database, tls: .disable)
        } else {
            config = .init(unixSocketPath: "\(address.socketDirectory ?? "/run/postgresql")/.s.PGSQL.\(address.port)", username: address.user,
                           password: address.password, database: address.database)
        }
        config.options.connectTimeout = .milliseconds(Int64(timeout * 1000))
        let configuration = config
        do {
            // The whole login under one deadline: a server that accepts the connection and
            // then says nothing is as unusable as one that refuses it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
                    do { _ = try await connection.query("SELECT current_user", logger: logger) } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                    throw DatabaseProbeTimeout(seconds: timeout)
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            throw DatabaseLoginError(address: address, underlying: error)
        }
    }
}

struct DatabaseProbeTimeout: Error, CustomStringConvertible {
    let seconds: TimeInterval
    var description: String { "no answer within \(Int(seconds)) s (timeout)" }
}

/// Why the central database could not be reached or logged in to, and what to change.
public struct DatabaseLoginError: Error, CustomStringConvertible {
    public let address: DatabaseAddress
    public let sqlState: String?
    public let serverMessage: String?
    let text: String

    init(address: DatabaseAddress, underlying: Error) {
        self.address = address
        let psql = underlying as? PSQLError
        sqlState = psql?.serverInfo?[.sqlState]
        serverMessage = psql?.serverInfo?[.message]
        text = String(reflecting: underlying)
    }

    /// What to change, by what PostgreSQL said.
    public var hint: String {
        let user = address.user, db = address.database
        let message = serverMessage ?? ""
        switch sqlState {
        case "28000" where message.localizedCaseInsensitiveContains("peer"):
            return "PostgreSQL's peer authentication admits only the operating-system user of the same name (this process runs as '\(Self.processUser)'). "
                + "Run the server as '\(user)', or connect over TCP with a password (postgres://\(user):PASSWORD@127.0.0.1:5432/\(db)) and a scram-sha-256 line for it in pg_hba.conf"
        case "28000" where message.localizedCaseInsensitiveContains("does not exist"):
            return "create the role: `sudo -u postgres createuser \(user)` (and `sudo -u postgres createdb -O \(user) \(db)`), or name an existing user in the URL"
        case "28000", "28P01":
            return "check the user and password in the URL, and pg_hba.conf's line for this address and database"
        case "3D000":
            return "create the database: `sudo -u postgres createdb -O \(user) \(db)`, or name an existing one in the URL"
        case "42501":
            return "give '\(user)' the right to connect to and create tables in '\(db)' (it should own the database: `ALTER DATABASE \(db) OWNER TO \(user)`)"
        default:
            if text.contains("connectTimeout") || text.contains("DatabaseProbeTimeout") {
                return "nothing answered in time: check the host, the port and any firewall between"
            }
            return "is PostgreSQL running and listening there? (`pg_lsclusters`; for TCP, listen_addresses in postgresql.conf)"
        }
    }

    public var description: String {
        let said = serverMessage.map { "PostgreSQL said: \($0)" + (sqlState.map { " (SQLSTATE \($0))" } ?? "") } ?? "\(text.prefix(200))"
        return "cannot log in to the central database as user '\(address.user)' (\(address)): \(said). \(hint)"
    }

    static var processUser: String {
        guard let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name else { return String(geteuid()) }
        return String(cString: name)
    }
}
