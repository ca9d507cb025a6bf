import CommandSupport
import PrivateServers
import ArgumentParser
import Audit
import FaceKit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Logging
import Storage

import WardenCore

struct ServerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure the fleet server.", subcommands: [BenchFleet.self])
}

/// The issue's scale, on this machine: a private PostgreSQL, the real `warden-server` as
/// its own process (so its memory is its own), a gallery loaded in bulk, one real board
/// (FleetAgent into a SQLite replica) syncing from nothing, then light controllers that
/// speak the real protocol over mutual TLS: each joined with its own token and key, each
/// holding a long poll, some uploading chained logs.
struct BenchFleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "First sync of a new board, change propagation to every controller, event ingest, server memory.",
        discussion: """
        Needs PostgreSQL's server binaries (Debian's postgresql; `make setup`). Everything lives in \
        a temporary directory and is deleted afterwards. Targets (issue 17): a new board's first \
        full sync of 100,000 templates in under 30 s; at least 20,000 events/s ingested.

          warden bench fleet                                  # 100,000 people, 1,000 controllers
          warden bench fleet --people 5000 --controllers 100  # a quick look
        """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "People in the gallery, each with one template.") var people = 100_000
    @Option(help: "Light controllers, each holding a long poll.") var controllers = 1_000
    @Option(help: "Changes made, one at a time, each timed to every controller.") var rounds = 5
    @Option(help: "Controllers uploading at once in the ingest run.") var ingestControllers = 50
    @Option(help: "Rows each of them uploads.") var eventsPerController = 10_000

    struct Report: Codable {
        var people: Int, controllers: Int
        var seedSeconds: Double
        var firstSyncSeconds: Double, firstSyncItems: Int, replicaTemplates: Int
        var joinSeconds: Double
        var propagationMilliseconds: SampleStats, propagationMissed: Int
        var ingestRows: Int, ingestSeconds: Double, ingestRowsPerSecond: Double
        var serverPeakMB: Double, serverResidentMB: Double
    }

    func run() throws {
        let report = try runBlocking { try await measure() }
        if global.json { try Output.json(report); return }
        func f(_ v: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", v) }
        print("fleet bench: \(report.people) people with templates, \(report.controllers) light controllers, warden-server on a private PostgreSQL")
        let p = report.propagationMilliseconds
        let lines: [(String, String)] = [
            ("gallery loaded (bulk import)", "\(f(report.seedSeconds)) s"),
            ("a new board's first full sync", "\(f(report.firstSyncSeconds)) s for \(report.firstSyncItems) items, \(report.replicaTemplates) templates in its replica (target < 30 s: \(report.firstSyncSeconds < 30 ? "met" : "NOT met"))"),
            ("\(report.controllers) controllers joined", "\(f(report.joinSeconds)) s"),
            ("change propagation, \(rounds) changes", "p50 \(f(p.median, 0)) ms, p99 \(f(p.p99, 0)) ms, max \(f(p.max, 0)) ms over \(p.count) deliveries; \(report.propagationMissed) missed"),
            ("event ingest", "\(Int(report.ingestRowsPerSecond)) rows/s (\(report.ingestRows) rows in \(f(report.ingestSeconds)) s; target ≥ 20,000: \(report.ingestRowsPerSecond >= 20_000 ? "met" : "NOT met"))"),
            ("server memory", "peak \(f(report.serverPeakMB, 0)) MB, resident at the end \(f(report.serverResidentMB, 0)) MB"),
        ]
        for (label, value) in lines { print("  " + label.padding(toLength: 34, withPad: " ", startingAt: 0) + value) }
    }

    func measure() async throws -> Report {
        let postgres = try PrivatePostgres()
        defer { postgres.destroy() }
        let dir = NSTemporaryDirectory() + "warden-bench-fleet-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let serverHome = ServerHome(path: dir + "/server")
        let port: Int
        do { port = try LoopbackPort.free() } catch { throw CLIError(error.description) }
        try serverHome.initialise(site: "bench", settings: .init(database: postgres.url, listen: "127.0.0.1", port: port, names: ["127.0.0.1"]))
        var logger = Logger(label: "bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .error
        let admin = Operator("bench")
        let people = self.people, controllers = self.controllers, rounds = self.rounds
        let ingestControllers = min(self.ingestControllers, controllers), eventsPerController = self.eventsPerController

        return try await ServerRunner.withStore(home: serverHome, logger: logger) { store in
            // 1. The gallery, in bulk.
            var rng = SystemRandomNumberGenerator()
            let seedStart = Date()
            for start in stride(from: 0, to: people, by: 2_000) {
                let batch = try (start..<min(people, start + 2_000)).map { i in
                    ImportedPerson(name: "Person \(i)", externalID: String(format: "B%06d", i),
                                   embedding: try Embedding(raw: (0..<128).map { _ in Float.random(in: -1...1, using: &rng) }))
                }
                _ = try await store.importPeople(batch, source: "bench", by: admin)
            }
            let seedSeconds = Date().timeIntervalSince(seedStart)
            FileHandle.standardError.write(Data("gallery of \(people) loaded in \(String(format: "%.1f", seedSeconds)) s\n".utf8))

            // 2. The server as its own process.
            let server = try Self.startServer(home: dir)
            defer { server.kill(SIGKILL); _ = server.wait() }
            let url = "https://127.0.0.1:\(port)"
            try await Self.waitUntilAnswering(url)
            let fingerprint = try serverHome.siteCA().fingerprint
            func token(_ name: String) async throws -> String {
                try await store.createJoinToken(controller: name, lifetime: 3600, caFingerprint: fingerprint, by: admin).0.description
            }

            // 3. A real board from nothing: join, then the feed into its SQLite replica.
            let boardHome = dir + "/board"
            try FileManager.default.createDirectory(atPath: boardHome, withIntermediateDirectories: true)
            let membership = try await FleetMembership.join(server: url, token: try await token("board"), home: boardHome, wardenVersion: WardenVersion.current)
            let db = try WardenDatabase(home: boardHome)
            let agent = FleetAgent(membership: membership, transport: try membership.transport(), db: db, audit: try AuditStore(home: boardHome),
                                   home: boardHome, wardenVersion: WardenVersion.current, record: { _ in })
            let current = try await store.currentRevision()
            let syncStart = Date()
            var items = 0
            while agent.linkStatus.appliedRevision < current { items += try await agent.syncOnce() }
            let firstSync = Date().timeIntervalSince(syncStart)
            let replicaTemplates = try db.templates.count()
            guard replicaTemplates == people else { throw CLIError("the board's replica holds \(replicaTemplates) templates of the server's \(people)") }
            await agent.shutdown()
            FileHandle.standardError.write(Data("first sync: \(items) items in \(String(format: "%.1f", firstSync)) s\n".utf8))

            // 4. Light controllers: joined over the protocol, eight at a time.
            let joinStart = Date()
            var light: [FleetMembership] = []
            try await withThrowingTaskGroup(of: FleetMembership.self) { group in
                var next = 0
                func add() async throws {
                    let name = "c\(next)", home = dir + "/light/\(name)"
                    next += 1
                    try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
                    let t = try await token(name)
                    group.addTask { try await FleetMembership.join(server: url, token: t, home: home, wardenVersion: "bench") }
                }
                while next < min(8, controllers) { try await add() }
                while let m = try await group.next() {
                    light.append(m)
                    if next < controllers { try await add() }
                }
            }
            let joinSeconds = Date().timeIntervalSince(joinStart)
            FileHandle.standardError.write(Data("\(controllers) controllers joined in \(String(format: "%.1f", joinSeconds)) s\n".utf8))

            // 5. Propagation: every controller long-polls; a change is made; each delivery timed.
            let arrivals = Arrivals()
            let base = try await store.currentRevision()
            let pollers = try light.map { m in
                let transport = try m.transport()
                return Task.detached {
                    var since = base
                    while !Task.isCancelled {
                        guard let set = try? await transport.getJSON(ChangeSet.self, FleetPath.changes, query: ["since": String(since), "wait": "25"], timeout: .seconds(35)) else {
                            try? await Task.sleep(for: .milliseconds(200)); continue
                        }
                        if set.through > since { await arrivals.add(set.through, Date()); since = set.through }
                    }
                }
            }
            var samples: [Double] = [], missed = 0
            for round in 0..<rounds {
                // Every poll back in place after the last round.
                try await Task.sleep(for: .seconds(3))
                let start = Date()
                _ = try await store.addPerson(name: "Round \(round)", externalID: "ROUND-\(round)", validFrom: nil, validUntil: nil, by: admin)
                let revision = try await store.currentRevision()
                for _ in 0..<600 where await arrivals.count(revision) < controllers { try await Task.sleep(for: .milliseconds(50)) }
                let got = await arrivals.times(revision)
                samples += got.map { $0.timeIntervalSince(start) * 1000 }
                missed += controllers - got.count
            }
            for p in pollers { p.cancel() }
            FileHandle.standardError.write(Data("propagation measured over \(rounds) rounds\n".utf8))

            // 6. Ingest: chained logs uploaded at once by several controllers.
            let chains: [[UploadedRow]] = try (0..<ingestControllers).map { c in
                var prev = AuditChain.genesisHash
                return try (1...eventsPerController).map { i in
                    let r = try AuditChain.row(for: AuditEvent(kind: .door, type: i % 2 == 0 ? "door.opened" : "door.closed", door: "door-\(c)", detail: ["n": String(i)]),
                                               seq: Int64(i), prevHash: prev)
                    prev = r.hash
                    return UploadedRow(seq: r.seq, payload: r.payload, prevHash: r.prevHash, hash: r.hash)
                }
            }
            let ingestStart = Date()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (m, rows) in zip(light.prefix(ingestControllers), chains) {
                    let transport = try m.transport()
                    group.addTask {
                        for start in stride(from: 0, to: rows.count, by: FleetTiming.uploadBatch) {
                            _ = try await transport.postJSON(EventAck.self, FleetPath.events, EventBatch(rows: Array(rows[start..<min(rows.count, start + FleetTiming.uploadBatch)])),
                                                             timeout: .seconds(120))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let ingestSeconds = Date().timeIntervalSince(ingestStart)
            let stored = try await store.controllers().filter { $0.name.hasPrefix("c") }.map(\.highWater).reduce(0, +)
            guard stored == Int64(ingestControllers * eventsPerController) else {
                throw CLIError("the server stored \(stored) rows of \(ingestControllers * eventsPerController) uploaded")
            }
            let (peak, resident) = Self.memory(of: server.pid)
            return Report(people: people, controllers: controllers, seedSeconds: seedSeconds, firstSyncSeconds: firstSync, firstSyncItems: items,
                          replicaTemplates: replicaTemplates, joinSeconds: joinSeconds, propagationMilliseconds: SampleStats(samples), propagationMissed: missed,
                          ingestRows: ingestControllers * eventsPerController, ingestSeconds: ingestSeconds,
                          ingestRowsPerSecond: Double(ingestControllers * eventsPerController) / ingestSeconds, serverPeakMB: peak, serverResidentMB: resident)
        }
    }

    actor Arrivals {
        private var byRevision: [Int64: [Date]] = [:]
        func add(_ revision: Int64, _ at: Date) { byRevision[revision, default: []].append(at) }
        func count(_ revision: Int64) -> Int { byRevision[revision]?.count ?? 0 }
        func times(_ revision: Int64) -> [Date] { byRevision[revision] ?? [] }
    }

    static func startServer(home: String) throws -> ChildProcess.Running {
        let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "WARDEN_HOME")
        return try ChildProcess.start([selfPath, "run", "--home", home, "--log-level", "error"], environment: env)
    }

    static func waitUntilAnswering(_ url: String) async throws {
        let probe = try HTTPSFleetTransport(server: url, identity: nil, trustedCA: nil)
        for _ in 0..<300 {
            if (try? await probe.get(FleetPath.caCertificate, query: [:], timeout: .seconds(2))) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("the server did not answer at \(url) within 30 s")
    }

    /// Peak and current resident memory of a process, in MB (/proc/PID/status).
    static func memory(of pid: pid_t) -> (Double, Double) {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func kB(_ key: String) -> Double {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return .nan }
            return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan) / 1024
        }
        return (kB("VmHWM"), kB("VmRSS"))
    }
}
