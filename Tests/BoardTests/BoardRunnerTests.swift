import Audit
import Board
import Controller
import FaceKit
import Foundation
import DoorIO
import Logging
import Matching
import Policy
import PresentationAttack
import Storage
import Testing
import WardenCore
import WardenTestSupport

/// The board's composition root in-process: built from inputs, run, asked its status and
/// shut down, with no `warden run` process around it.
@Suite("board runner", .serialized, .enabled(if: TestCheckout.haveFixtures, "needs the models from `make setup`"))
struct BoardRunnerTests {
    /// A site with one badge door on simulated GPIO whose `simulate:` presents `badge`.
    final class Site {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-board-\(UUID())")
        var home: String { dir.appendingPathComponent("home").path }
        init(badge: String) throws {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("policy"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try """
            site: {name: Board, timezone: UTC}
            zones: [{id: office}]
            doors:
              - {id: server-room, into: office, factors: badge, fail_mode: secure, strike_time: 2s}
            groups: [{id: staff}]
            grants: [{id: staff-office, to: "group:staff", zone: office}]
            """.write(to: dir.appendingPathComponent("policy/site.yaml"), atomically: true, encoding: .utf8)
            try """
            policy: policy
            pinmap: \(TestCheckout.path("hardware/pinmaps/gpio-sim.yaml"))
            gpio: simulated
            doors:
              server-room: {}
            simulate:
              - {at: 0.3, door: server-room, badge: "\(badge)"}
            """.write(to: dir.appendingPathComponent("site.yaml"), atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        func inputs() throws -> BoardInputs {
            let config = try SiteConfig.load(path: dir.appendingPathComponent("site.yaml").path)
            let db = try WardenDatabase(home: home)
            let models = ModelSet(directory: TestCheckout.models.path)
            return BoardInputs(config: config, filePolicy: try PolicyLoader().load(directory: config.policyDirectory), policyDirectory: config.policyDirectory,
                               pinMap: try PinMap.load(path: config.pinMapPath), models: models, thresholds: .default, metricHead: nil, db: db,
                               auditStore: try AuditStore(home: home), membership: nil, home: home,
                               padLocator: PADModelLocator(faceModels: ModelLocator(explicitDirectory: models.directory)),
                               secondModel: nil, secondModelProblem: "not installed in this test",
                               reloadThresholds: { .default }, loadGallery: { try Gallery.load(from: $0, modelID: $1) })
        }
    }

    final class Said: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ s: String) { lock.withLock { lines.append(s) } }
        var all: [String] { lock.withLock { lines } }
        var console: BoardConsole { BoardConsole(said: add, note: add, problem: add) }
    }

    @Test func aBoardStartsDecidesReportsAndStopsInProcess() throws {
        let site = try Site(badge: "12:1001")
        let inputs = try site.inputs()
        let op = Operator("test")
        let ada = try inputs.db.people.add(Person(displayName: "Ada", at: Date()), by: op)
        try inputs.db.access.addMember(ada.id!, to: "staff", by: op)
        _ = try inputs.db.badges.issue(try BadgeCredential(parsing: "12:1001"), to: ada.id!, by: op)
        let said = Said()
        let board = try BoardRunner(inputs, console: said.console, logger: Logger(label: "board-test"))
        #expect(board.doorsUp == 1)
        let reason = board.run(until: .init(requested: { nil }, duration: 30, afterDecisions: 1))
        #expect(reason == "1 decision made")
        let status = board.status()
        #expect(status.doors.map(\.id) == ["server-room"] && status.site == "Board")
        board.shutdown(reason: "test finished")
        var events: [AuditEvent] = []
        try AuditStore(home: site.home).forEachRow { _, e in events.append(e) }
        #expect(events.first?.type == "system.start")
        #expect(events.contains { $0.type == "access.granted" && $0.personName == "Ada" && $0.badge == "12:1001" })
        #expect(events.last?.type == "system.stop" && events.last?.detail?["reason"] == "test finished")
        // The badge was issued without an audit event (a row no event accounts for): reported.
        #expect(events.contains { $0.type == "system.unaudited_changes" })
        #expect(said.all.contains { $0.contains("not accounted for by the audit log") }, "\(said.all)")
    }

    /// Grants that cannot be read keep every door from starting: the error says which
    /// store, and nothing was built.
    @Test func unreadableGrantsStopTheStartBeforeAnyDoor() throws {
        let site = try Site(badge: "12:1001")
        let inputs = try site.inputs()
        try inputs.db.writer.writeWithoutTransaction { try $0.execute(sql: "DROP TABLE accessGrant") }
        #expect {
            _ = try BoardRunner(inputs, console: Said().console, logger: Logger(label: "board-test"))
        } throws: { error in
            "\(error)".contains("the grants in the identity database cannot be read")
        }
    }
}
