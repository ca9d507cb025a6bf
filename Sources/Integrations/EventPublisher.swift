import Audit
import DequeModule
import Foundation

/// Where committed audit events go on to: each sink takes them without waiting (its own
/// queue and thread), and drains briefly when the controller stops.
public protocol EventSink: AnyObject, Sendable {
    func accept(_ events: [AuditEvent])
    func stop(drain: TimeInterval)
}

/// Publishes the site's committed audit events to MQTT, beside the doors and never in
/// their way: `accept` only appends to a bounded queue under a lock, and one thread of its
/// own hands messages to the broker link. A broker that is down, slow or refusing fills the
/// queue; past `queueLimit` the oldest messages are dropped and counted, and the count is
/// recorded in the audit log when the link is back (`integration.mqtt_restored`).
public final class EventPublisher: EventSink, @unchecked Sendable {
    /// Messages handed to the link and not yet acknowledged, at most: a slow broker holds
    /// them in libmosquitto's memory, which this keeps bounded too.
    public static let maximumInFlight = 100
    /// Refused commands recorded per door, at most one per this many seconds (the rest counted).
    public static let refusalInterval: TimeInterval = 10

    public let settings: MQTTSettings
    let connection: any MQTTConnection
    let record: @Sendable (AuditEvent) -> Void
    let discovery: [MQTTMessage]

    private let condition = NSCondition()
    private var projection: EventProjection
    private var queue = Deque<MQTTMessage>()
    /// What a (re)connect sends before the queue: online, discovery and the state as it
    /// stands. Replaced on every connect, bounded by the number of doors, never trimmed: a
    /// full queue must not push out the picture a subscriber reads the rest by.
    private var preamble = Deque<MQTTMessage>()
    private var inFlight = 0
    private var connected = false
    private var stopping = false
    /// Whether the sender thread waits on the condition, and whether `stop` waits for the
    /// queue to drain: wake-ups only then, since a futex wake per event would cost the
    /// audit writer more than the event itself.
    private var senderWaiting = false
    private var draining = false
    private var droppedSinceRestore = 0
    private var droppedTotal = 0
    private var published = 0
    private var lostAt: Date?
    private var lastRefusal: [String: (at: Date, suppressed: Int)] = [:]
    /// Command topic level → door id (a level two door ids share maps to nobody).
    private let commandDoors: [String: String]
    /// Where accepted commands go (the controller's inbox); false: it has no room. Set
    /// before `start`.
    public var onCommand: (@Sendable (RemoteCommand) -> Bool)?

    /// `doors`: the site's doors (id and name), for the retained state and discovery.
    /// `record`: where the publisher's own events go (the audit log).
    public init(settings: MQTTSettings, connection: any MQTTConnection, doors: [HomeAssistantDiscovery.Door], version: String,
                record: @escaping @Sendable (AuditEvent) -> Void) {
        self.settings = settings
        self.connection = connection
        self.record = record
        let topics = TopicScheme(prefix: settings.topicPrefix, site: settings.site, board: settings.board)
        self.topics = topics
        projection = EventProjection(topics: topics, site: settings.site, person: settings.person, doors: doors.map(\.id))
        var levels: [String: String?] = [:]
        for d in doors { let l = MQTTSettings.topicLevel(d.id); levels[l] = levels[l] == nil ? .some(d.id) : .some(nil) }
        commandDoors = levels.compactMapValues { $0 }
        discovery = settings.discovery ? HomeAssistantDiscovery(prefix: settings.discoveryPrefix, topics: topics, site: settings.site, version: version).messages(for: doors) : []
    }

    public let topics: TopicScheme

    /// `queued`: events waiting for the broker, at most `queueLimit`. The preamble (online
    /// status, discovery, the retained state) is not counted: it is rebuilt at every connect,
    /// so what a lost link left of it is not waiting for anything.
    public struct Counters: Sendable, Equatable { public var connected: Bool; public var queued: Int; public var published: Int; public var dropped: Int }
    public var counters: Counters { condition.withLock { Counters(connected: connected, queued: queue.count, published: published, dropped: droppedTotal) } }

    public func start() throws(IntegrationError) {
        let t = Thread { self.run() }  // holds self until the loop ends (stop), never past it
        t.name = "warden.mqtt-publisher"
        t.start()
        try connection.start(will: MQTTMessage(topic: topics.status, text: "offline", retain: true)) { [weak self] e in self?.handle(e) }
    }

    /// Committed audit events (AuditLog's `onCommit`): never blocks on the broker.
    public func accept(_ events: [AuditEvent]) {
        condition.withLock {
            for e in events { queue.append(contentsOf: projection.messages(for: e)) }
            trim()
            // Only when the sender can act: connected, with room in flight.
            if senderWaiting && connected && inFlight < Self.maximumInFlight { condition.broadcast() }
        }
    }

    /// Sends what is queued for up to `drain` seconds (a connected link: the stop event
    /// goes out), says "offline" while it can, then closes the link.
    public func stop(drain: TimeInterval = 2) {
        let until = Date().addingTimeInterval(drain)
        condition.withLock {
            draining = true
            while connected && !(queue.isEmpty && preamble.isEmpty) && Date() < until { _ = condition.wait(until: min(until, Date().addingTimeInterval(0.1))) }
            stopping = true
            condition.broadcast()
        }
        connection.stop(last: MQTTMessage(topic: topics.status, text: "offline", retain: true))
    }

    private func trim() {
        let over = queue.count - settings.queueLimit
        guard over > 0 else { return }
        queue.removeFirst(over)
        droppedSinceRestore += over
        droppedTotal += over
    }

    private func handle(_ e: MQTTConnectionEvent) {
        switch e {
        case .connected:
            let (downFor, dropped): (Double?, Int) = condition.withLock {
                connected = true
                inFlight = 0
                // First what a subscriber needs to read the rest: online, discovery, the state as it stands.
                preamble = Deque([MQTTMessage(topic: topics.status, text: "online", retain: true)] + discovery + projection.retained())
                let d = droppedSinceRestore
                droppedSinceRestore = 0
                let down = lostAt.map { Date().timeIntervalSince($0) }
                lostAt = nil
                condition.broadcast()
                return (down, d)
            }
            _ = connection.subscribe(topics.commands)
            record(AuditEvent(kind: .system, type: "integration.mqtt_connected",
                              detail: ["broker": "\(settings.host):\(settings.port)", "dropped": String(dropped)]
                                .merging(downFor.map { ["offline_seconds": String(format: "%.0f", $0)] } ?? [:]) { a, _ in a }))
        case .disconnected(let why):
            let first = condition.withLock {
                let wasUp = connected || lostAt == nil
                connected = false
                preamble = []   // the next connect sends it afresh
                if lostAt == nil { lostAt = Date() }
                return wasUp
            }
            if first { record(AuditEvent(kind: .system, type: "integration.mqtt_lost", detail: ["broker": "\(settings.host):\(settings.port)", "reason": why])) }
        case .acknowledged:
            condition.withLock { inFlight = max(0, inFlight - 1); if senderWaiting { condition.broadcast() } }
        case .message(let topic, let payload, let retained):
            takeCommand(topic: topic, payload: payload, retained: retained)
        }
    }

    /// The broker-side checks of a command, in order: commands enabled, not a retained
    /// copy, a door of this site, a door listed in `mqtt.commands.doors`, a payload Warden
    /// understands, room in the controller's inbox. What passes goes to the controller,
    /// where the policy engine decides; what does not is refused and recorded.
    private func takeCommand(topic: String, payload: [UInt8], retained: Bool) {
        let prefix = topics.base + "/door/"
        let levels = topic.hasPrefix(prefix) ? topic.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false) : []
        let level = levels.count == 2 && levels[1] == "command" ? String(levels[0]) : nil
        let door = level.flatMap { commandDoors[$0] }
        // Unknown doors share one record key, so made-up topics cannot grow the refusal table.
        let label = door ?? "?"
        guard settings.commands.enabled else {
            return refuseCommand(door: label, topic: topic, payload: payload, "remote commands are not enabled on this controller; nothing was done")
        }
        // The broker stores a retained message and hands it to every new subscriber: acted
        // on, it would release the door again at each reconnect.
        guard !retained else { return refuseCommand(door: label, topic: topic, payload: payload, "a retained command is refused: it would act again on every reconnect") }
        guard let door else { return refuseCommand(door: label, topic: topic, payload: payload, "no door of this site has this command topic") }
        guard settings.commands.doors.contains(door) else {
            return refuseCommand(door: door, topic: topic, payload: payload, "this door's command topic is not listed in mqtt.commands.doors; nothing was done")
        }
        switch RemoteCommandPayload.parse(payload) {
        case .failure(let why): refuseCommand(door: door, topic: topic, payload: payload, "\(why); nothing was done")
        case .success(let c):
            let command = RemoteCommand(door: door, action: c.action, requestedBy: c.requestedBy ?? "unnamed client", topic: topic)
            guard let onCommand, onCommand(command) else {
                return refuseCommand(door: door, topic: topic, payload: payload, "too many commands are waiting at this controller; nothing was done")
            }
        }
    }

    /// A refused command is recorded, never acted on (at most one record per door every
    /// `refusalInterval`, with how many were not recorded).
    private func refuseCommand(door: String, topic: String, payload: [UInt8], _ reason: String) {
        let now = Date()
        let suppressed: Int? = condition.withLock {
            if let last = lastRefusal[door], now.timeIntervalSince(last.at) < Self.refusalInterval {
                lastRefusal[door] = (last.at, last.suppressed + 1)
                return nil
            }
            let s = lastRefusal[door]?.suppressed ?? 0
            lastRefusal[door] = (now, 0)
            return s
        }
        guard let suppressed else { return }
        let shown = RemoteCommandPayload.printable(String(decoding: payload.prefix(64), as: UTF8.self))
        record(AuditEvent(kind: .system, type: "integration.command_refused", door: door,
                          detail: ["topic": RemoteCommandPayload.printable(String(topic.prefix(200))), "payload": shown,
                                   "not_recorded_before": String(suppressed), "reason": reason]))
    }

    private func run() {
        while true {
            condition.lock()
            while !stopping && (!connected || (queue.isEmpty && preamble.isEmpty) || inFlight >= Self.maximumInFlight) {
                senderWaiting = true
                condition.wait()
                senderWaiting = false
            }
            if stopping { condition.unlock(); return }
            let fromPreamble = !preamble.isEmpty
            let next = fromPreamble ? preamble.removeFirst() : queue.removeFirst()
            inFlight += next.qos > 0 ? 1 : 0
            condition.unlock()
            switch connection.publish(next) {
            case .sent: condition.withLock { published += 1; if draining { condition.broadcast() } }
            case .notConnected:
                // It goes back first, for the next connect. The link's own `disconnected`
                // event says when it is down; until then, try again shortly.
                condition.withLock {
                    if fromPreamble { preamble.prepend(next) } else { queue.prepend(next); trim() }
                    inFlight = max(0, inFlight - (next.qos > 0 ? 1 : 0))
                }
                Thread.sleep(forTimeInterval: 0.1)
            case .rejected:
                condition.withLock { droppedSinceRestore += 1; droppedTotal += 1; inFlight = max(0, inFlight - (next.qos > 0 ? 1 : 0)) }
            }
        }
    }
}
