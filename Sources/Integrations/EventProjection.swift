import Audit
import Foundation

/// One message to publish.
public struct MQTTMessage: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var retain: Bool
    public var qos: Int32
    public init(topic: String, payload: [UInt8], retain: Bool = false, qos: Int32 = 1) { self.topic = topic; self.payload = payload; self.retain = retain; self.qos = qos }
    public init(topic: String, text: String, retain: Bool = false, qos: Int32 = 1) { self.init(topic: topic, payload: Array(text.utf8), retain: retain, qos: qos) }
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// The topic scheme, under `<prefix>/<site>` (docs/integrations.md):
///
///     status                         online | offline (retained; offline is the last will)
///     event                          system events: faults, alarms, link changes (JSON)
///     door/<door>/decision           access.granted / access.denied (JSON)
///     door/<door>/event              every door event (JSON)
///     door/<door>/state              locked | released | open | held_open | forced | out_of_service (retained)
///     door/<door>/lock               LOCKED | UNLOCKED (retained; Home Assistant's lock)
///     door/<door>/contact            open | closed (retained)
///     door/<door>/alarm/<alarm>      ON | OFF for held_open, forced_open, tamper (retained)
///     door/<door>/fault/camera       ON | OFF (retained)
///     door/<door>/command            what Warden reads: remote commands (refused unless enabled)
public struct TopicScheme: Sendable, Equatable {
    public let base: String
    public init(prefix: String, site: String) {
        base = prefix.split(separator: "/").map { MQTTSettings.topicLevel(String($0)) }.joined(separator: "/") + "/" + MQTTSettings.topicLevel(site)
    }
    public var status: String { base + "/status" }
    public var systemEvent: String { base + "/event" }
    public func door(_ id: String) -> String { base + "/door/" + MQTTSettings.topicLevel(id) }
    public func decision(_ door: String) -> String { self.door(door) + "/decision" }
    public func doorEvent(_ door: String) -> String { self.door(door) + "/event" }
    public func state(_ door: String) -> String { self.door(door) + "/state" }
    public func lock(_ door: String) -> String { self.door(door) + "/lock" }
    public func contact(_ door: String) -> String { self.door(door) + "/contact" }
    public func alarm(_ door: String, _ alarm: DoorAlarm) -> String { self.door(door) + "/alarm/" + alarm.rawValue }
    public func cameraFault(_ door: String) -> String { self.door(door) + "/fault/camera" }
    public func command(_ door: String) -> String { self.door(door) + "/command" }
    /// The subscription that receives every door's commands.
    public var commands: String { base + "/door/+/command" }
}

public enum DoorAlarm: String, Sendable, CaseIterable { case heldOpen = "held_open", forcedOpen = "forced_open", tamper }

/// What integrations show of the site, folded from the audit events as they are committed:
/// deterministic (the same events give the same messages), no I/O.
public struct EventProjection: Sendable {
    /// What is known of one door from its events.
    public struct DoorView: Sendable, Equatable {
        public var released = false
        public var open: Bool?
        public var alarms: Set<String> = []
        public var cameraFault = false
        public var outOfService = false

        public var state: String {
            if outOfService { return "out_of_service" }
            if alarms.contains(DoorAlarm.forcedOpen.rawValue) { return "forced" }
            if alarms.contains(DoorAlarm.heldOpen.rawValue) { return "held_open" }
            if open == true { return "open" }
            return released ? "released" : "locked"
        }
    }

    public let topics: TopicScheme
    public let person: MQTTSettings.PersonField
    public let site: String
    public private(set) var doors: [String: DoorView]

    public init(topics: TopicScheme, site: String, person: MQTTSettings.PersonField, doors: [String]) {
        self.topics = topics; self.site = site; self.person = person
        self.doors = Dictionary(uniqueKeysWithValues: doors.map { ($0, DoorView()) })
    }

    /// The messages one committed event gives. Admin events are not published: they name
    /// operators and people, and belong to the audit trail.
    public mutating func messages(for e: AuditEvent) -> [MQTTMessage] {
        switch e.kind {
        case .admin: return []
        case .decision:
            guard let door = e.door else { return [] }
            return [MQTTMessage(topic: topics.decision(door), payload: payload(e))]
        case .door:
            guard let door = e.door else { return [] }
            let before = doors[door] ?? DoorView()
            var v = before
            switch e.type {
            case "door.released", "door.emergency_release": v.released = true
            case "door.relocked": v.released = false
            case "door.opened": v.open = true
            case "door.closed": v.open = false
            case "door.held_open": v.alarms.insert(DoorAlarm.heldOpen.rawValue)
            case "door.held_open_cleared": v.alarms.remove(DoorAlarm.heldOpen.rawValue)
            case "door.forced_open": v.alarms.insert(DoorAlarm.forcedOpen.rawValue)
            case "door.forced_open_cleared": v.alarms.remove(DoorAlarm.forcedOpen.rawValue)
            case "door.tamper": v.alarms.insert(DoorAlarm.tamper.rawValue)
            case "door.tamper_cleared": v.alarms.remove(DoorAlarm.tamper.rawValue)
            default: break
            }
            // A door that reports events works again.
            v.outOfService = false
            doors[door] = v
            return [MQTTMessage(topic: topics.doorEvent(door), payload: payload(e))] + changes(door, from: before, to: v)
        case .system:
            var out = [MQTTMessage(topic: topics.systemEvent, payload: payload(e))]
            if let door = e.door {
                let before = doors[door] ?? DoorView()
                var v = before
                switch e.type {
                case "system.camera_fault": v.cameraFault = true
                case "system.camera_recovered", "system.camera_started": v.cameraFault = false
                case "system.door_unavailable": v.outOfService = true
                default: break
                }
                doors[door] = v
                out += changes(door, from: before, to: v)
            }
            return out
        }
    }

    /// Every retained topic as it stands: sent on each (re)connect, so a subscriber that
    /// joins late, or a broker that lost its store, has the current picture.
    public func retained() -> [MQTTMessage] {
        doors.keys.sorted().flatMap { door in changes(door, from: nil, to: doors[door]!) }
    }

    private func changes(_ door: String, from old: DoorView?, to new: DoorView) -> [MQTTMessage] {
        var out: [MQTTMessage] = []
        func put(_ topic: String, _ value: String) { out.append(MQTTMessage(topic: topic, text: value, retain: true)) }
        if old?.state != new.state { put(topics.state(door), new.state) }
        if old?.released != new.released || old == nil { put(topics.lock(door), new.released ? "UNLOCKED" : "LOCKED") }
        if let open = new.open, old?.open != open { put(topics.contact(door), open ? "open" : "closed") }
        for a in DoorAlarm.allCases where old == nil || old!.alarms.contains(a.rawValue) != new.alarms.contains(a.rawValue) {
            put(topics.alarm(door, a), new.alarms.contains(a.rawValue) ? "ON" : "OFF")
        }
        if old?.cameraFault != new.cameraFault || old == nil { put(topics.cameraFault(door), new.cameraFault ? "ON" : "OFF") }
        return out
    }

    func payload(_ e: AuditEvent) -> [UInt8] { EventJSON.encode(e, site: site, person: person) }
}

/// An audit event as integrations publish it, over MQTT and to webhooks alike: JSON with
/// sorted keys and a schema version.
public enum EventJSON {
    public static let schemaVersion = 1

    /// The event as JSON with a schema version. A person is an id unless the site chose
    /// names; badge numbers and face evidence stay in the audit trail.
    public static func encode(_ e: AuditEvent, site: String, person: PublishedPerson) -> [UInt8] {
        var o: [String: Any] = ["schema": schemaVersion, "seq": e.seq, "at": AuditTime.utc(e.at), "type": e.type, "site": site]
        if let v = e.siteLocalTime { o["site_time"] = v }
        if let v = e.door { o["door"] = v }
        if let v = e.zone { o["zone"] = v }
        if let v = e.camera { o["camera"] = v }
        if let v = e.reader { o["reader"] = v }
        if let v = e.result { o["result"] = v }
        if let v = e.rule { o["rule"] = v }
        if let v = e.reasons { o["reasons"] = v }
        if let v = e.doorAction { o["door_action"] = v }
        if let f = e.factors { o["factors"] = f.map { ["factor": $0.factor, "ok": $0.ok] as [String: Any] } }
        if let id = e.personID {
            var p: [String: Any] = ["id": id]
            if person == .name, let n = e.personName { p["name"] = n }
            o["person"] = p
        }
        if let liveness = e.face?.liveness?.verdict { o["liveness"] = liveness }
        if let d = e.detail, e.kind != .decision { o["detail"] = d }
        return Array((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data())
    }
}
