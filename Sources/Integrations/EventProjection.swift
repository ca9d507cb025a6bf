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
    /// This board's level in the status topic.
    public let board: String
    public init(prefix: String, site: String, board: String) {
        base = prefix.split(separator: "/").map { MQTTSettings.topicLevel(String($0)) }.joined(separator: "/") + "/" + MQTTSettings.topicLevel(site)
        self.board = MQTTSettings.topicLevel(board)
    }
    /// `online` / `offline` (retained, and the broker's will) of this board alone: two boards
    /// of a site each have their own, and Home Assistant reads a door's availability from the
    /// board that runs it.
    public var status: String { base + "/status/" + board }
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

public typealias DoorAlarm = DoorStatus.Alarm

/// What integrations show of the site, folded from the audit events as they are committed:
/// deterministic (the same events give the same messages), no I/O.
public struct EventProjection: Sendable {
    public typealias DoorView = DoorStatus

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
            v.apply(e)
            doors[door] = v
            return [MQTTMessage(topic: topics.doorEvent(door), payload: payload(e))] + changes(door, from: before, to: v)
        case .system:
            var out = [MQTTMessage(topic: topics.systemEvent, payload: payload(e))]
            if let door = e.door {
                let before = doors[door] ?? DoorView()
                var v = before
                v.apply(e)
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

    /// The event as JSON with a schema version, keys in sorted order. A person is an id
    /// unless the site chose names; badge numbers and face evidence stay in the audit trail.
    /// Written by hand, not with JSONSerialization: on Linux its sorted keys go through an ICU
    /// collator made per call, which cost 300 µs an event (`warden bench integrations`).
    public static func encode(_ e: AuditEvent, site: String, person: PublishedPerson) -> [UInt8] {
        var o: [String: JSONValue] = [:]
        o["at"] = .string(AuditTime.utc(e.at))
        if let d = e.detail, e.kind != .decision { o["detail"] = .object(d.mapValues { .string($0) }) }
        if let v = e.door { o["door"] = .string(v) }
        if let v = e.doorAction { o["door_action"] = .string(v) }
        if let v = e.camera { o["camera"] = .string(v) }
        if let f = e.factors { o["factors"] = .array(f.map { .object(["factor": .string($0.factor), "ok": .bool($0.ok)]) }) }
        if let liveness = e.face?.liveness?.verdict { o["liveness"] = .string(liveness) }
        if let id = e.personID {
            var p: [String: JSONValue] = ["id": .int(id)]
            if person == .name, let n = e.personName { p["name"] = .string(n) }
            o["person"] = .object(p)
        }
        if let v = e.reader { o["reader"] = .string(v) }
        if let v = e.reasons { o["reasons"] = .array(v.map { .string($0) }) }
        if let v = e.result { o["result"] = .string(v) }
        if let v = e.rule { o["rule"] = .string(v) }
        o["schema"] = .int(Int64(schemaVersion))
        o["seq"] = .int(e.seq)
        o["site"] = .string(site)
        if let v = e.siteLocalTime { o["site_time"] = .string(v) }
        o["type"] = .string(e.type)
        if let v = e.zone { o["zone"] = .string(v) }
        return JSONValue.object(o).bytes()
    }
}

/// Just enough JSON for the integrations' payloads: sorted keys, every string escaped.
enum JSONValue: Sendable {
    case string(String), int(Int64), bool(Bool), array([JSONValue]), object([String: JSONValue])

    func bytes() -> [UInt8] { var out: [UInt8] = []; out.reserveCapacity(256); write(&out); return out }

    func write(_ out: inout [UInt8]) {
        switch self {
        case .string(let s): Self.write(string: s, &out)
        case .int(let i): out += Array(String(i).utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() { if i > 0 { out.append(UInt8(ascii: ",")) }; v.write(&out) }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.write(string: k, &out)
                out.append(UInt8(ascii: ":"))
                o[k]!.write(&out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func write(string s: String, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

