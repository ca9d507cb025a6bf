import Foundation

/// Home Assistant's MQTT discovery: one device per door, with a `lock` for its state, a
/// `binary_sensor` for the contact, each alarm and the camera fault, and `sensor`s for the
/// last decision and the door's state. Published retained to
/// `<discovery prefix>/<component>/<node>/<object>/config` on every connect; Home Assistant
/// builds the entities from them (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
public struct HomeAssistantDiscovery: Sendable {
    public struct Door: Sendable { public var id: String; public var name: String; public init(id: String, name: String) { self.id = id; self.name = name } }

    public let prefix: String
    public let topics: TopicScheme
    public let site: String
    public let version: String

    public init(prefix: String, topics: TopicScheme, site: String, version: String) {
        self.prefix = prefix.split(separator: "/").map { MQTTSettings.topicLevel(String($0)) }.joined(separator: "/")
        self.topics = topics; self.site = site; self.version = version
    }

    /// The node id: the same for every entity of this site, so entities of two sites never collide.
    var node: String { "warden_" + MQTTSettings.topicLevel(site) }

    public func messages(for doors: [Door]) -> [MQTTMessage] {
        doors.sorted { $0.id < $1.id }.flatMap(configs)
    }

    func configs(_ door: Door) -> [MQTTMessage] {
        let d = MQTTSettings.topicLevel(door.id)
        let device: [String: Any] = ["identifiers": ["\(node)_\(d)"], "name": door.name, "manufacturer": "Warden",
                                     "model": "face-recognition door controller", "sw_version": version]
        func entity(_ component: String, _ object: String, _ name: String, _ fields: [String: Any]) -> MQTTMessage {
            var c = fields
            c["name"] = name
            c["unique_id"] = "\(node)_\(object)"
            c["device"] = device
            c["availability_topic"] = topics.status
            c["payload_available"] = "online"
            c["payload_not_available"] = "offline"
            let data = (try? JSONSerialization.data(withJSONObject: c, options: [.sortedKeys])) ?? Data()
            return MQTTMessage(topic: "\(prefix)/\(component)/\(node)/\(object)/config", payload: Array(data), retain: true)
        }
        var out: [MQTTMessage] = [
            // Home Assistant requires a command topic for a lock: Warden reads it and refuses
            // (and logs) every command unless remote commands are enabled.
            entity("lock", d, "Lock", ["state_topic": topics.lock(door.id), "command_topic": topics.command(door.id),
                                       "payload_lock": "LOCK", "payload_unlock": "UNLOCK", "state_locked": "LOCKED", "state_unlocked": "UNLOCKED",
                                       "optimistic": false]),
            entity("binary_sensor", "\(d)_contact", "Door", ["state_topic": topics.contact(door.id), "device_class": "door",
                                                             "payload_on": "open", "payload_off": "closed"]),
            entity("binary_sensor", "\(d)_camera_fault", "Camera fault", ["state_topic": topics.cameraFault(door.id), "device_class": "problem",
                                                                          "payload_on": "ON", "payload_off": "OFF", "entity_category": "diagnostic"]),
            entity("sensor", "\(d)_decision", "Last decision", ["state_topic": topics.decision(door.id), "value_template": "{{ value_json.result }}",
                                                               "json_attributes_topic": topics.decision(door.id), "icon": "mdi:account-check"]),
            entity("sensor", "\(d)_state", "State", ["state_topic": topics.state(door.id), "device_class": "enum",
                                                     "options": ["locked", "released", "open", "held_open", "forced", "out_of_service"]]),
        ]
        for a in DoorAlarm.allCases {
            let name = a == .heldOpen ? "Held open" : a == .forcedOpen ? "Forced open" : "Tamper"
            out.append(entity("binary_sensor", "\(d)_\(a.rawValue)", name, ["state_topic": topics.alarm(door.id, a),
                                                                          "device_class": a == .tamper ? "tamper" : "problem",
                                                                          "payload_on": "ON", "payload_off": "OFF"]))
        }
        return out
    }
}
