import Audit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Logging
import Storage
import WardenCore

/// A server on a private PostgreSQL, on a free loopback port, in this process; and
/// controller homes that join it over real HTTPS with mutual TLS.
final class FleetHarness: @unchecked Sendable {
    let postgres: TestPostgres
    let serverHome: ServerHome
    let root: String
    let logger: Logger = { var l = Logger(label: "fleet-test"); l.logLevel = .critical; return l }()
    private(set) var port = 0
    private var serverTask: Task<Void, Error>?
    private(set) var store: CentralStore?
    private var boards: [Board] = []

    init() throws {
        postgres = try TestPostgres()
        root = NSTemporaryDirectory() + "warden-fleet-\(UUID().uuidString.prefix(8))"
        serverHome = ServerHome(path: root + "/server")
        try serverHome.initialise(site: "test", settings: .init(database: postgres.url, listen: "127.0.0.1", port: 0, names: ["127.0.0.1", "localhost"]))
    }

    var url: String { "https://127.0.0.1:\(port)" }

    /// Starts the server (again, on the same port once it has had one).
    func startServer() async throws {
        let box = PortBox()
        let home = serverHome, logger = logger
        let want = port
        serverTask = Task {
            try await ServerRunner.run(home: home, port: want, handleSignals: false, logger: logger) { p, store in await box.set(p, store) }
        }
        for _ in 0..<600 {
            if let (p, s) = await box.value { port = p; store = s; return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestPostgresError("the fleet server did not start within 30 s")
    }

    func stopServer() async {
        serverTask?.cancel()
        _ = await serverTask?.result
        serverTask = nil
        store = nil
    }

    /// Runs `body` against the central store directly (as `warden server ...` commands on
    /// the server host do).
    func central<T: Sendable>(_ body: @Sendable (CentralStore) async throws -> T) async throws -> T {
        try await ServerRunner.withStore(home: serverHome, logger: logger, body)
    }

    func caFingerprint() throws -> String { try serverHome.siteCA().fingerprint }

    func token(for name: String, lifetime: TimeInterval = 600) async throws -> JoinToken {
        let fp = try caFingerprint()
        return try await central { try await $0.createJoinToken(controller: name, lifetime: lifetime, caFingerprint: fp, by: Operator("test-admin")).0 }
    }

    /// A controller home joined to the fleet.
    func joinedController(_ name: String) async throws -> Board {
        let home = root + "/\(name)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let m = try await FleetMembership.join(server: url, token: try await token(for: name).description, home: home, wardenVersion: "test")
        let b = try Board(home: home, membership: m)
        boards.append(b)
        return b
    }

    func destroy() async {
        for b in boards { await b.agent.shutdown() }
        await stopServer()
        postgres.destroy()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// One controller: its identity database (the replica), its audit log, its agent.
final class Board: @unchecked Sendable {
    let home: String
    let db: WardenDatabase
    let audit: AuditStore
    let agent: FleetAgent
    let recorded = EventSink()

    init(home: String, membership: FleetMembership) throws {
        self.home = home
        audit = try AuditStore(home: home)
        db = try WardenDatabase(home: home)
        let sink = recorded, audit = audit
        agent = FleetAgent(membership: membership, transport: try membership.transport(), db: db, audit: audit, home: home, wardenVersion: "test",
                           record: { e in sink.add(e); _ = try? audit.append([e]) })
    }
}

final class EventSink: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [AuditEvent] = []
    func add(_ e: AuditEvent) { lock.withLock { events.append(e) } }
    var all: [AuditEvent] { lock.withLock { events } }
    var types: [String] { all.map(\.type) }
}

actor PortBox {
    var value: (Int, CentralStore)?
    func set(_ p: Int, _ s: CentralStore) { value = (p, s) }
}
