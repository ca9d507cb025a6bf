import Audit
import FleetServer
import Foundation
import Policy
import PostgresNIO
import WardenCore

/// What the live board shows of one event: a decision with its evidence, a door or system
/// event, an alarm, or an acknowledgement. Built from the stored row, whose hash is checked
/// first: the board shows nothing the chain does not hold.
public struct BoardEvent: Codable, Sendable, Equatable {
    public var arrival: Int64
    public var controller: String
    public var seq: Int64
    /// When, as a guard reads it: the site's time with its offset (`AuditEvent.humanTime`).
    public var at: String
    /// The same instant in UTC, for machines (and the element's title).
    public var atUTC: String
    public var type: String
    public var kind: String
    public var door: String?
    public var result: String?
    public var personID: Int64?
    public var personName: String?
    public var badge: String?
    public var factors: [String]
    public var distance: String?
    public var liveness: String?
    public var reasons: [String]
    public var rule: String?
    public var alarm: Bool
    /// For an acknowledgement: the alarm's controller and seq, the operator and comment.
    public var acknowledges: String?
    public var comment: String?
    public var by: String?

    static func of(_ e: AuditEvent, controller: String, arrival: Int64) -> BoardEvent {
        let reasons = (e.reasons ?? []).map { Reason(rawValue: $0).plainWords }
        var distance: String? = nil
        if let f = e.face, let d = f.distance { distance = String(format: "%.3f (threshold %.3f)", d, f.threshold) }
        var liveness: String? = nil
        if let l = e.face?.liveness {
            liveness = l.verdict + (l.scores.isEmpty ? "" : " (" + l.scores.map { String(format: "%.2f", $0) }.joined(separator: ", ") + String(format: "; needs %.2f)", l.threshold))
        }
        // Only the server's own chain acknowledges alarms: a board that uploads an event of
        // that type speaks of nothing but itself.
        let isAck = e.type == ConsoleFeed.acknowledgedType && controller == "@server"
        return BoardEvent(arrival: arrival, controller: controller, seq: e.seq, at: e.humanTime, atUTC: AuditTime.utc(e.at), type: e.type, kind: e.kind.rawValue, door: isAck ? e.detail?["door"] : e.door,
                          result: e.result, personID: e.personID, personName: e.personName, badge: e.badge,
                          factors: (e.factors ?? []).map { "\($0.factor) \($0.ok ? "ok" : "failed")" }, distance: distance, liveness: liveness,
                          reasons: reasons, rule: e.rule, alarm: ConsoleFeed.alarmTypes.contains(e.type),
                          acknowledges: isAck ? "\(e.detail?["controller"] ?? "")#\(e.detail?["seq"] ?? "")" : nil,
                          comment: isAck ? e.detail?["comment"] : nil, by: isAck ? e.operator : nil)
    }
}

/// One door on the board, as its latest events and its controller's heartbeat say.
public struct BoardDoor: Sendable, Equatable {
    public var controller: String
    public var door: String
    public var status: DoorStatus
    /// What the controller's last heartbeat said, for a door with no events yet.
    public var reported: String?
    public var controllerOffline: Bool

    /// The one word the board shows, the most urgent first.
    public var label: String {
        if controllerOffline { return "controller offline" }
        if status.outOfService { return "out of service" }
        if status.alarms.contains(DoorStatus.Alarm.forcedOpen.rawValue) { return "forced" }
        if status.alarms.contains(DoorStatus.Alarm.heldOpen.rawValue) { return "held open" }
        if status.alarms.contains(DoorStatus.Alarm.tamper.rawValue) { return "tamper" }
        if status.cameraFault { return "camera fault" }
        if status.readerOffline { return "reader offline" }
        if status == DoorStatus(), let reported { return reported }
        return status.state.replacingOccurrences(of: "_", with: " ")
    }

    /// For the page's colour: alarm, fault or normal.
    public var severity: String {
        switch label {
        case "forced", "held open", "tamper": "alarm"
        case "controller offline", "out of service", "camera fault", "reader offline", "alarm": "fault"
        default: "normal"
        }
    }
}

/// The board's reads of the central store.
public enum ConsoleFeed {
    public static let acknowledgedType = "admin.alarm_acknowledged"
    /// The events a guard must acknowledge.
    public static let alarmTypes: Set<String> = AuditStats.alarmTypes.union(["reader.offline", "system.camera_fault", "door.tamper", "reader.power_failed",
                                                                          "reader.secure_channel_refused", "system.door_unavailable", "fleet.clock_skew",
                                                                          "fleet.apply_failed"])
        .subtracting(["door.held_open_prealarm"])
    /// A controller silent this long (six missed heartbeats) shows as offline.
    public static let controllerOfflineAfter: TimeInterval = 30

    /// A controller not heard from lately, or never since it joined, shows as offline.
    public static func isSilent(_ c: ControllerRow, now: Date) -> Bool {
        guard let seen = c.lastSeen else { return true }
        return now.timeIntervalSince(seen) > controllerOfflineAfter
    }
    static let stateTypes = ["system.camera_fault", "system.camera_recovered", "system.camera_started", "system.door_unavailable", "reader.offline", "reader.online"]
}

extension CentralStore {
    /// The newest arrival stored: the live stream starts after it.
    public func latestArrival() async throws -> Int64 {
        try await one(client.query("SELECT coalesce(max(arrival), 0) FROM event", logger: logger), Int64.self) ?? 0
    }

    /// Every door of every active controller: the doors its heartbeat reports and those its
    /// events name, each folded from its latest event of each type (enough for every field
    /// of the status, which only the latest of its types decides).
    public func boardDoors(now: Date = Date()) async throws -> [BoardDoor] {
        let controllers = try await self.controllers().filter { $0.status == "active" }
        var doors: [String: BoardDoor] = [:]
        for c in controllers {
            let offline = ConsoleFeed.isSilent(c, now: now)
            for d in c.doors {
                doors[c.name + "\u{0}" + d.id] = BoardDoor(controller: c.name, door: d.id, status: DoorStatus(), reported: d.state, controllerOffline: offline)
            }
            var latest: [AuditEvent] = []
            let rows = try await client.query("""
                SELECT DISTINCT ON (door, type) seq, payload, prev_hash, hash FROM event
                WHERE controller_id = \(c.id) AND door IS NOT NULL AND (type LIKE 'door.%' OR type = ANY(\(ConsoleFeed.stateTypes)))
                ORDER BY door, type, seq DESC
                """, logger: logger)
            for try await (seq, payload, prev, hash) in rows.decode((Int64, String, String, String).self) {
                if case .success(let e) = AuditChain.checked(AuditRow(seq: seq, payload: payload, prevHash: prev, hash: hash)) { latest.append(e) }
            }
            for e in latest.sorted(by: { $0.seq < $1.seq }) {
                guard let door = e.door else { continue }
                let key = c.name + "\u{0}" + door
                var d = doors[key] ?? BoardDoor(controller: c.name, door: door, status: DoorStatus(), reported: nil, controllerOffline: offline)
                d.status.apply(e)
                doors[key] = d
            }
        }
        return doors.values.sorted { ($0.controller, $0.door) < ($1.controller, $1.door) }
    }

    /// The next rows after `cursor`, in arrival order: every arrival number (so the stream
    /// can tell a number not yet committed from a row the board does not show), with the
    /// event for those it shows: every controller's, and the server's own acknowledgements
    /// (its other admin events belong to the audit page).
    public func boardPage(after cursor: Int64, limit: Int = 5000) async throws -> (arrivals: [Int64], events: [BoardEvent]) {
        try await arrivalsAndEvents("""
            SELECT e.arrival, e.controller_id <> 0 OR e.type = \(ConsoleFeed.acknowledgedType), c.name, e.seq, e.payload, e.prev_hash, e.hash
            FROM event e JOIN controller c ON c.id = e.controller_id WHERE e.arrival > \(cursor) ORDER BY e.arrival LIMIT \(limit)
            """)
    }

    /// The rows with these arrival numbers that have committed since (late commits), as the board shows them.
    public func boardEvents(arrivals: [Int64]) async throws -> (committed: [Int64], events: [BoardEvent]) {
        guard !arrivals.isEmpty else { return ([], []) }
        return try await arrivalsAndEvents("""
            SELECT e.arrival, e.controller_id <> 0 OR e.type = \(ConsoleFeed.acknowledgedType), c.name, e.seq, e.payload, e.prev_hash, e.hash
            FROM event e JOIN controller c ON c.id = e.controller_id WHERE e.arrival = ANY(\(arrivals)) ORDER BY e.arrival
            """)
    }

    /// Every arrival number a query returns, and the events among them the board shows.
    private func arrivalsAndEvents(_ query: PostgresQuery) async throws -> ([Int64], [BoardEvent]) {
        var arrivals: [Int64] = [], events: [BoardEvent] = []
        let rows = try await client.query(query, logger: logger)
        for try await (arrival, shown, name, seq, payload, prev, hash) in rows.decode((Int64, Bool, String, Int64, String, String, String).self) {
            arrivals.append(arrival)
            guard shown, case .success(let e) = AuditChain.checked(AuditRow(seq: seq, payload: payload, prevHash: prev, hash: hash)) else { continue }
            events.append(BoardEvent.of(e, controller: name, arrival: arrival))
        }
        return (arrivals, events)
    }

    /// Alarms that arrived after `cursor`: sent ahead of the rows before them, so a new alarm
    /// never waits behind a board's backlog being uploaded.
    public func boardAlarms(after cursor: Int64, limit: Int = 100) async throws -> [BoardEvent] {
        try await boardEvents(query: """
            SELECT e.arrival, c.name, e.seq, e.payload, e.prev_hash, e.hash FROM event e JOIN controller c ON c.id = e.controller_id
            WHERE e.arrival > \(cursor) AND e.controller_id <> 0 AND e.type = ANY(\(Array(ConsoleFeed.alarmTypes)))
            ORDER BY e.arrival LIMIT \(limit)
            """)
    }

    /// The latest decisions and alarms, newest first, for the board as it opens.
    public func recentBoardEvents(limit: Int = 30) async throws -> [BoardEvent] {
        try await boardEvents(query: """
            SELECT e.arrival, c.name, e.seq, e.payload, e.prev_hash, e.hash FROM event e JOIN controller c ON c.id = e.controller_id
            WHERE e.controller_id <> 0 AND (e.type LIKE 'access.%' OR e.type = ANY(\(Array(ConsoleFeed.alarmTypes))))
            ORDER BY e.arrival DESC LIMIT \(limit)
            """)
    }

    /// Alarms nobody has acknowledged yet, newest first.
    public func openAlarms(limit: Int = 100) async throws -> [BoardEvent] {
        try await boardEvents(query: """
            SELECT e.arrival, c.name, e.seq, e.payload, e.prev_hash, e.hash FROM event e JOIN controller c ON c.id = e.controller_id
            LEFT JOIN alarm_ack a ON a.controller_id = e.controller_id AND a.seq = e.seq
            WHERE e.type = ANY(\(Array(ConsoleFeed.alarmTypes))) AND a.seq IS NULL AND e.controller_id <> 0
            ORDER BY e.arrival DESC LIMIT \(limit)
            """)
    }

    private func boardEvents(query: PostgresQuery) async throws -> [BoardEvent] {
        var out: [BoardEvent] = []
        let rows = try await client.query(query, logger: logger)
        for try await (arrival, name, seq, payload, prev, hash) in rows.decode((Int64, String, Int64, String, String, String).self) {
            guard case .success(let e) = AuditChain.checked(AuditRow(seq: seq, payload: payload, prevHash: prev, hash: hash)) else { continue }
            out.append(BoardEvent.of(e, controller: name, arrival: arrival))
        }
        return out
    }

    /// Records that an operator saw an alarm and what they did, once per alarm.
    public func acknowledgeAlarm(controller: String, seq: Int64, comment raw: String, by op: Operator, now: Date = Date()) async throws {
        let comment = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !comment.isEmpty else { throw CentralError.invalid("say what was done about the alarm (a comment is required)") }
        if let p = DisplayText.problem(comment, as: "a comment", maxLength: 500) { throw CentralError.invalid(p) }
        try await transaction { conn in
            guard let (id, type, door) = try await self.one(conn.query("""
                SELECT e.controller_id, e.type, e.door FROM event e JOIN controller c ON c.id = e.controller_id
                WHERE c.name = \(controller) AND e.seq = \(seq) AND e.controller_id <> 0
                """, logger: self.logger), (Int64, String, String?).self) else {
                throw CentralError.notFound("no event \(seq) of controller '\(controller)'")
            }
            guard ConsoleFeed.alarmTypes.contains(type) else { throw CentralError.invalid("event \(seq) of '\(controller)' is \(type), not an alarm") }
            guard try await self.one(conn.query("""
                INSERT INTO alarm_ack (controller_id, seq, operator, comment, at) VALUES (\(id), \(seq), \(op.name), \(comment), \(now))
                ON CONFLICT DO NOTHING RETURNING seq
                """, logger: self.logger), Int64.self) != nil else {
                throw CentralError.conflict("that alarm was already acknowledged")
            }
            try await self.appendServerEvents([AuditEvent.admin(ConsoleFeed.acknowledgedType, operator: op.name, subject: "event:\(controller)#\(seq)",
                                                                detail: ["controller": controller, "seq": String(seq), "alarm": type, "door": door ?? "", "comment": comment], at: now)], conn)
        }
    }
}

/// Where one live stream is in the central log. Arrival numbers are taken at insert and
/// become visible at commit, so a lower number can appear after a higher one was read: the
/// numbers skipped below the cursor are kept as gaps and looked for again until
/// `lateCommitWindow` has passed. Alarms are read ahead of the cursor and sent at once,
/// then skipped when the page reaches them. The cursor always moves on, so a backlog of any
/// size is sent a page a second (before: the same 5,000 rows were read again every second
/// until they aged out of a two-minute window, and a board's 20,000-row backlog held a new
/// forced-door alarm back for 198 s).
package struct LiveCursor {
    package private(set) var cursor: Int64
    package private(set) var gaps: [Int64: Date] = [:]
    private var sentAhead: Set<Int64> = []
    let lateCommitWindow: TimeInterval
    static let maximumGaps = 10_000

    package init(after start: Int64, lateCommitWindow: TimeInterval) { cursor = start; self.lateCommitWindow = lateCommitWindow }

    /// An alarm read ahead of the cursor: true when it is to be sent now (not sent before).
    package mutating func sendAhead(_ arrival: Int64) -> Bool {
        guard arrival > cursor else { return false }
        return sentAhead.insert(arrival).inserted
    }

    /// A page read after the cursor (every arrival number, in order): the cursor moves past
    /// it, and the numbers it skipped become gaps.
    package mutating func advance(over arrivals: [Int64], now: Date) {
        var expected = cursor + 1
        for a in arrivals {
            if a > expected, gaps.count < Self.maximumGaps {
                for missing in expected..<min(a, expected + Int64(Self.maximumGaps - gaps.count)) { gaps[missing] = now }
            }
            expected = a + 1
            cursor = max(cursor, a)
        }
    }

    /// Whether a row the page or a late commit brings is to be sent: not if it was sent ahead.
    package mutating func shouldSend(_ arrival: Int64) -> Bool { sentAhead.remove(arrival) == nil }

    /// Gaps that have since committed are filled; those older than the window are given up.
    package mutating func filled(_ arrivals: [Int64]) { for a in arrivals { gaps[a] = nil } }

    package mutating func expire(now: Date) {
        for (a, at) in gaps where now.timeIntervalSince(at) > lateCommitWindow { gaps[a] = nil }
        sentAhead = sentAhead.filter { $0 > cursor || gaps[$0] != nil }
    }

    package var openGaps: [Int64] { gaps.keys.sorted() }
}
