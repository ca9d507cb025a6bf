import FleetServer
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import WardenCore
import FleetProtocol

/// The live board: doors, open alarms and the latest decisions, then Server-Sent Events.
extension ConsoleRoutes {
    /// How long one event stream lasts before the browser reconnects (with Last-Event-ID, so
    /// nothing is missed): under the server's request deadline, and so a stream never holds
    /// a graceful shutdown for long.
    static let streamLifetime: Duration = .seconds(50)
    /// How long an arrival number is remembered after it was first seen: a transaction that
    /// took a lower number and committed later than a higher one is still shown if it
    /// commits within this time (every request is bounded at 60 s).
    static let lateCommitWindow: TimeInterval = 120

    func installBoard(_ group: RouterGroup<FleetRequestContext>) {
        group.get { req, _ in
            try await page(req, .read) { s in
                let after = try await store.latestArrival()
                let doors = try await store.boardDoors(now: now)
                let alarms = try await store.openAlarms()
                let events = try await store.recentBoardEvents()
                return await show("board", [
                    "navBoard": true, "after": String(after), "canAck": s.op.role.may(.enroll),
                    "doors": doors.map { ["controller": $0.controller, "door": $0.door, "label": $0.label, "severity": $0.severity] },
                    "alarms": alarms.map(Self.values), "events": events.map(Self.values),
                ], session: s, title: "Live board")
            }
        }
        group.get("live") { req, _ in try await live(req) }
        group.post("alarms/ack") { req, ctx in
            try await change(req, ctx, .enroll, back: "/console") { s, form in
                guard let controller = form.text("controller"), let seq = form.text("seq").flatMap({ Int64($0) }) else {
                    throw CentralError.invalid("which alarm? (controller and seq)")
                }
                try await store.acknowledgeAlarm(controller: controller, seq: seq, comment: form["comment"] ?? "", by: s.op.asOperator, now: now)
                return ("/console", "Alarm \(controller)#\(seq) acknowledged.")
            }
        }
    }

    static func values(_ e: BoardEvent) -> [String: Any] {
        ["controller": e.controller, "seq": String(e.seq), "at": e.at, "atUTC": e.atUTC, "type": e.type, "door": e.door ?? "", "result": e.result ?? "",
         "personName": e.personName ?? "", "personID": e.personID.map(String.init) ?? "",
         "factorsText": e.factors.joined(separator: "; "), "distance": e.distance ?? "", "liveness": e.liveness ?? "",
         "reasonsText": e.reasons.isEmpty ? "" : e.reasons.joined(separator: ". ") + ".", "alarm": e.alarm, "comment": e.comment ?? "", "by": e.by ?? ""]
    }

    /// The stream: every event after the page's (or the last one the browser got), and each
    /// door whose state changed, polled once a second. The stream does not count as use: a
    /// board nobody touches still signs out at the idle time-out, and says so.
    func live(_ req: Request) async throws -> Response {
        guard try await session(req, touch: false) != nil else {
            return Response(status: .unauthorized, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "sign in first\n")))
        }
        let cookie = req.cookies[WebConsole.cookieName]?.value ?? ""
        let fromQuery = try PeerInput.integer(FormFields.query(req).get("after"), "after", in: 0...Int64.max, default: 0)
        let fromHeader = try PeerInput.integer(req.headers[HTTPField.Name("Last-Event-ID")!], "Last-Event-ID", in: 0...Int64.max, default: 0)
        let start = max(fromQuery, fromHeader)
        let (store, limits, clock) = (self.store, console.limits, console.clock)
        let body = ResponseBody { writer in
            // The event id a browser resumes from (Last-Event-ID) is the stream's cursor, never
            // an alarm's sent ahead of it: resuming after that would skip the rows below it.
            func send(_ event: String, id: Int64? = nil, _ data: some Encodable) async throws {
                let json = String(decoding: try JSONEncoder().encode(data), as: UTF8.self)
                var text = "event: \(event)\n"
                if let id { text += "id: \(id)\n" }
                text += "data: \(json)\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            var position = LiveCursor(after: start, lateCommitWindow: Self.lateCommitWindow)
            var doors: [String: DoorUpdate] = [:]
            for d in try await store.boardDoors(now: clock()) { doors[d.controller + "\u{0}" + d.door] = DoorUpdate(d) }
            let end = ContinuousClock.now + Self.streamLifetime
            var tick = 0
            // A server stopping (SIGTERM) ends the stream at once: its graceful shutdown waits
            // for requests in flight, and a guard's open board held it for the stream's 50 s.
            // The browser reconnects to whichever server answers next.
            while ContinuousClock.now < end, !Task.isCancelled, !Task.isShuttingDownGracefully {
                tick += 1
                if tick % 10 == 0, try await store.consoleSession(cookie: cookie, limits: limits, touch: false, now: clock()) == nil {
                    try await send("expired", ["reason": "signed out"])
                    break
                }
                var doorsMayHaveChanged = tick % 5 == 0
                func deliver(_ e: BoardEvent, ahead: Bool = false) async throws {
                    try await send("entry", id: ahead ? nil : position.cursor, e)
                    if e.door != nil, e.kind == "door" || e.kind == "system" { doorsMayHaveChanged = true }
                }
                // Alarms first, whatever is queued before them.
                for e in try await store.boardAlarms(after: position.cursor) where position.sendAhead(e.arrival) { try await deliver(e, ahead: true) }
                // Rows that committed late, below the cursor.
                let late = try await store.boardEvents(arrivals: position.openGaps)
                position.filled(late.committed)
                for e in late.events where position.shouldSend(e.arrival) { try await deliver(e) }
                // The next page after the cursor.
                let page = try await store.boardPage(after: position.cursor)
                position.advance(over: page.arrivals, now: Date())
                for e in page.events where position.shouldSend(e.arrival) { try await deliver(e) }
                position.expire(now: Date())
                if doorsMayHaveChanged {
                    for d in try await store.boardDoors(now: clock()) {
                        let key = d.controller + "\u{0}" + d.door, u = DoorUpdate(d)
                        if doors[key] != u { doors[key] = u; try await send("door", u) }
                    }
                }
                try await Task.sleep(for: .seconds(1))
            }
            if Task.isShuttingDownGracefully { try await send("closing", ["reason": "the server is stopping"]) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }
}

struct DoorUpdate: Codable, Equatable, Sendable {
    let controller: String, door: String, label: String, severity: String
    init(_ d: BoardDoor) { controller = d.controller; door = d.door; label = d.label; severity = d.severity }
}
