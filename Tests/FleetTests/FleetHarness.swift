import Audit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Logging
import Storage
import Testing
import WardenCore

/// A server on a private PostgreSQL, on a free loopback port, in this process; and
/// controller homes that join it over real HTTPS with mutual TLS.
final class FleetHarness: @unchecked Sendable {
    let postgres: TestPostgres
    let serverHome: ServerHome
    let root: String
    let logger: Logger = { var l = Logger(label: "fleet-test"); l.logLevel = ProcessInfo.processInfo.environment["WARDEN_TEST_LOG"] == nil ? .critical : .debug; return l }()
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

    /// Starts the server (again, on the same port once it has had one). The first start
    /// takes a free port below the kernel's ephemeral range (32768 and up), never port 0:
    /// suites run side by side in one process, and a server of another suite bound to port 0
    /// could be handed this one's port while it restarts.
    func startServer(enrollment: ServerEnrollment? = nil, extensions: [any FleetServerExtension] = [], connections: ConnectionLimits = ConnectionLimits()) async throws {
        guard port == 0 else { return try await start(on: port, enrollment: enrollment, extensions: extensions, connections: connections) }
        var lastError: Error?
        for _ in 0..<20 {
            do { return try await start(on: Int.random(in: 20_000..<32_000), enrollment: enrollment, extensions: extensions, connections: connections) } catch {
                lastError = error
                guard "\(error)".contains("Address already in use") else { throw error }
            }
        }
        throw lastError!
    }

    private func start(on want: Int, enrollment: ServerEnrollment?, extensions: [any FleetServerExtension], connections: ConnectionLimits) async throws {
        let box = PortBox()
        let home = serverHome, logger = logger
        serverTask = Task {
            try await ServerRunner.run(home: home, port: want, handleSignals: false, enrollment: enrollment, extensions: extensions, connections: connections,
                                       logger: logger) { p, store in await box.set(p, store) }
        }
        let task = serverTask!
        let failed = FailureBox()
        Task { if case .failure(let e) = await task.result { await failed.set(e) } }
        for _ in 0..<600 {
            if let (p, s) = await box.value { port = p; store = s; return }
            if let e = await failed.error { serverTask = nil; throw TestPostgresError("the fleet server stopped at start: \(String(reflecting: e))") }
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
    private(set) var agent: FleetAgent
    let recorded = EventSink()

    init(home: String, membership: FleetMembership) throws {
        self.home = home
        audit = try AuditStore(home: home)
        db = try WardenDatabase(home: home)
        agent = try Self.agent(home: home, membership: membership, db: db, audit: audit, sink: recorded)
    }

    private static func agent(home: String, membership: FleetMembership, db: WardenDatabase, audit: AuditStore, sink: EventSink) throws -> FleetAgent {
        FleetAgent(membership: membership, transport: try membership.transport(), db: db, audit: audit, home: home, wardenVersion: "test",
                   record: { e in sink.add(e); _ = try? audit.append([e]) })
    }

    /// The board's process starting again: an agent that knows only what is on disk.
    func restartAgent() async throws {
        await agent.shutdown()
        agent = try Self.agent(home: home, membership: agent.membership, db: db, audit: audit, sink: recorded)
    }

    /// Uploads until the server holds every local row.
    func drain() async throws {
        while try await agent.uploadOnce().accepted > 0 {}
    }
}

extension FleetHarness {
    /// The `warden` binary as an operator runs it against this server: WARDEN_SERVER, the
    /// site CA and the operator's token, from a home of its own on the admin's host.
    func adminCLI(_ args: [String], token: String) async throws -> Spawn.Result {
        let bin = try #require(FleetBoardProcessTests.warden, "the warden executable was not built beside the tests")
        let caPath = root + "/ca.pem"
        if !FileManager.default.fileExists(atPath: caPath) {
            try serverHome.siteCA().pem.certificatePEM.write(toFile: caPath, atomically: true, encoding: .utf8)
        }
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = root + "/admin-host"
        env["WARDEN_SERVER"] = url
        env["WARDEN_SERVER_CA"] = caPath
        env["WARDEN_OPERATOR_TOKEN"] = token
        return try await Spawn.output([bin] + args, environment: env)
    }

    /// The server's own audit log (admin changes made at the server), checked, in order.
    func serverEvents() async throws -> [AuditEvent] {
        try await central { store in
            var out: [AuditEvent] = []
            try await store.forEachEvent(controller: "@server") { _, row in
                if case .success(let e) = AuditChain.checked(row) { out.append(e) }
            }
            return out
        }
    }

    /// What the server stores of one controller's log, as (seq, hash), in order.
    func centralRows(_ controller: String) async throws -> [AuditRow] {
        try await central { store in
            var rows: [AuditRow] = []
            try await store.forEachEvent(controller: controller) { _, row in rows.append(row) }
            return rows
        }
    }

    /// The central log of `controller` is exactly the board's: every row, once, in order,
    /// and its chain verifies at the server.
    func logs(of audit: AuditStore, as controller: String) async throws -> (central: [AuditRow], local: [AuditRow], problems: [String]) {
        let local = try audit.rows(after: 0, limit: .max)
        let stored = try await centralRows(controller)
        let problems = try await self.central { try await $0.verifyChains() }.first { $0.controller == controller }?.problems ?? ["no chain for \(controller)"]
        return (stored, local, problems)
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

actor FailureBox {
    var error: Error?
    func set(_ e: Error) { error = e }
}
