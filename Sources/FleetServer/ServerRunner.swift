import FleetProtocol
import Foundation
import Hummingbird
import Logging
import PostgresNIO

/// Runs a server from its home until cancelled (tests) or until SIGTERM/SIGINT
/// (`warden server run`, through swift-service-lifecycle's graceful shutdown): the
/// PostgreSQL client, the change listener and the HTTPS application together.
public enum ServerRunner {
    public static func run(home: ServerHome, host: String? = nil, port: Int? = nil, handleSignals: Bool, enrollment: ServerEnrollment? = nil,
                           extensions: [any FleetServerExtension] = [], connections: ConnectionLimits = ConnectionLimits(), logger: Logger, onRunning: @escaping @Sendable (Int, CentralStore) async -> Void = { _, _ in }) async throws {
        let settings = try home.settings()
        let address = try DatabaseAddress(parsing: settings.database)
        let client = CentralStore.makeClient(address, logger: logger)
        let store = CentralStore(client: client, templateKey: try home.templateCipher(), logger: logger, watermarkPath: home.feedWatermarkPath)
        let notifier = ChangeNotifier()
        let server = FleetHTTPServer(store: store, ca: try home.siteCA(), serverCertificate: try home.serverCertificate(),
                                     serverNames: settings.names, notifier: notifier, logger: logger, enrollment: enrollment, extensions: extensions,
                                     connections: connections)
        // The database client is not a child of this task, so that cancelling the server
        // stops it last: the HTTPS side's graceful shutdown lets requests in flight finish
        // (a long poll wakes and queries), which they cannot once the client is gone.
        let database = Task { await client.run() }
        defer { database.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            try await store.migrate()
            try await store.checkRewind()
            // Built now, not at the first unknown name (whose refusal took twice as long: 186 ms
            // against 97, which told that name apart).
            _ = CentralStore.decoyTokenHash
            group.addTask { await notifier.listen(client, logger: logger) }
            let app = try server.makeApplication(host: host ?? settings.listen, port: port ?? settings.port) { p in await onRunning(p, store) }
            if handleSignals {
                // ServiceLifecycle handles the signals; the watch only bounds how long it may take.
                let watch = ShutdownWatch.arm(limit: .seconds(25), ledger: server.ledger, logger: logger)
                defer { watch.forEach { $0.cancel() } }
                try await app.runService()
            } else { try await app.run() }
            group.cancelAll()
        }
        database.cancel()
        await database.value
    }

    /// For commands on the server host that talk to the database directly (tokens,
    /// operators, revocation): runs `body` with a migrated store.
    public static func withStore<T: Sendable>(home: ServerHome, logger: Logger, _ body: @Sendable (CentralStore) async throws -> T) async throws -> T {
        let settings = try home.settings()
        let client = CentralStore.makeClient(try DatabaseAddress(parsing: settings.database), logger: logger)
        let store = CentralStore(client: client, templateKey: try home.templateCipher(), logger: logger, watermarkPath: home.feedWatermarkPath)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }
}
