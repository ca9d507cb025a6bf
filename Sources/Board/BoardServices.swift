import Audit
import Controller
import FleetLink
import FleetProtocol
import Foundation
import Integrations
import WardenCore

/// One reload at a time, loaded on its own thread; the loop takes the outcome when it is ready.
public final class BackgroundReload: @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var running = false
    private var outcome: Result<BoardRunner.Reloaded, Error>?

    /// False when one is already under way.
    public func start(_ load: @escaping @Sendable () throws -> BoardRunner.Reloaded) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !running else { return false }
        running = true
        let t = Thread { [self] in
            let r = Result { try load() }
            lock.lock(); outcome = r; running = false; lock.unlock()
        }
        t.name = "warden.reload"
        t.start()
        return true
    }

    public func take() -> Result<BoardRunner.Reloaded, Error>? {
        lock.lock(); defer { outcome = nil; lock.unlock() }
        return outcome
    }
}

/// The doors' states as the fleet agent reports them (set by the loop, read by the agent).
public final class DoorReportBox: @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var doors: [FleetDoorReport] = []
    public func set(_ d: [FleetDoorReport]) { lock.withLock { doors = d } }
    public func get() -> [FleetDoorReport] { lock.withLock { doors } }
}

/// The integrations that have started (read by the audit writer's commit hook).
public final class IntegrationSinks: @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var sinks: [any EventSink] = []
    public func add(_ s: any EventSink) { lock.withLock { sinks.append(s) } }
    public func accept(_ events: [AuditEvent]) { for s in lock.withLock({ sinks }) { s.accept(events) } }
    public func stop() { for s in lock.withLock({ sinks }) { s.stop(drain: 2) } }
    public var publisher: EventPublisher? { lock.withLock { sinks.lazy.compactMap { $0 as? EventPublisher }.first } }
}

/// The MQTT link in `warden status`.
public enum MQTTStatusLine {
    public static func fields(_ p: EventPublisher) -> [String: String] {
        let c = p.counters
        return ["broker": "\(p.settings.host):\(p.settings.port)", "link": c.connected ? "up" : "DOWN (events queued, doors unaffected)",
                "topics": p.topics.base, "queued": String(c.queued), "published": String(c.published), "dropped": String(c.dropped)]
    }
}

/// The fleet link in `warden status`.
public enum FleetStatusLine {
    public static func fields(_ s: FleetLinkStatus) -> [String: String] {
        var f = ["server": s.server, "controller": s.controller, "link": s.connected ? "up" : "DOWN (deciding from the local replica)",
                 "applied_revision": String(s.appliedRevision), "acknowledged_seq": String(s.acknowledgedSeq), "buffered_events": String(s.bufferedEvents)]
        if let r = s.serverRevision { f["server_revision"] = String(r) }
        if let c = s.bufferCapacity {
            f["buffer_capacity_events"] = String(c)
            f["buffer"] = s.bufferLevel == .normal ? "normal" : "\((s.bufferLevel ?? .normal).rawValue.uppercased()): \(s.bufferedEvents) of \(c) events waiting for the server"
        }
        if let k = s.clockSkewSeconds { f["clock_skew_seconds"] = String(format: "%.2f", k) }
        if let c = s.lastContact { f["last_contact"] = AuditTime.utc(c) }
        if let e = s.lastError { f["last_error"] = e }
        if let p = s.applyProblem { f["apply_problem"] = "ALARM: " + p }
        return f
    }

    public static func doorState(_ d: SiteStatus.DoorStatus) -> String {
        if d.alarm { return "alarm" }
        if d.faceOutOfService != nil { return "out of service" }
        if d.cameraFault != nil { return "camera fault" }
        if d.contactOpen { return "open" }
        return d.lockReleased ? "released" : "locked"
    }
}

public final class StatusBox: @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var data = Data("{}".utf8)
    public func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    public func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

