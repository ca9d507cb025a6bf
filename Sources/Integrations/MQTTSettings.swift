import Foundation
import WardenCore

/// How a person appears in published events: ids by default, since names are personal data
/// that the broker, a webhook receiver and every subscriber would hold.
public enum PublishedPerson: String, Sendable { case id, name }

/// The `mqtt:` section of a site file: where the broker is, how to prove who Warden is,
/// and what to publish. Passwords and keys are files, never text in the site file.
public struct MQTTSettings: Sendable, Equatable {
    public enum ProtocolVersion: String, Sendable { case v311 = "3.1.1", v5 = "5" }
    public typealias PersonField = PublishedPerson

    public struct TLS: Sendable, Equatable {
        public var caFile: String
        /// A client certificate and its key, when the broker authenticates clients by certificate.
        public var certFile: String?
        public var keyFile: String?
        public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) { self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile }
    }

    public var host: String
    public var port: Int
    public var protocolVersion: ProtocolVersion
    /// The broker session's id. Two boards with one id take each other's session (the
    /// broker drops the older at every connect), so the default is this board's own
    /// (`automaticClientID`); `client_id` in the site file sets it.
    public var clientID: String
    /// Which board this is, in the status topic and in Home Assistant's availability: one
    /// board stopping marks its own doors unavailable, not the site's.
    public var board: String
    /// Whether the site file named the client id (else `warden run` may name it after the
    /// board's fleet controller name).
    public var clientIDChosen = false
    public var username: String?
    /// The password, read from `password_file` when the site file is loaded.
    public var password: String?
    public var tls: TLS?
    /// Topics are `<prefix>/<site>/...`.
    public var topicPrefix: String
    public var site: String
    public var person: PersonField
    public var discovery: Bool
    public var discoveryPrefix: String
    /// Messages held while the broker is away; the oldest are dropped (and counted) past it.
    public var queueLimit: Int
    public var keepAlive: Int
    /// Remote commands from the broker: off unless the site file turns them on.
    public var commands: Commands = .off

    /// `mqtt.commands`: remote release and lockdown, only for the listed doors' command
    /// topics, each then checked by the policy engine (the door's `remote:`) and audited.
    public struct Commands: Sendable, Equatable {
        public var enabled: Bool
        /// Door ids whose command topics are acted on; a command on any other is refused.
        public var doors: Set<String>
        public init(enabled: Bool, doors: Set<String>) { self.enabled = enabled; self.doors = doors }
        public static let off = Commands(enabled: false, doors: [])
    }

    public init(host: String, port: Int = 1883, protocolVersion: ProtocolVersion = .v311, clientID: String = "warden", username: String? = nil,
                password: String? = nil, tls: TLS? = nil, topicPrefix: String = "warden", site: String, person: PersonField = .id,
                discovery: Bool = true, discoveryPrefix: String = "homeassistant", queueLimit: Int = 1000, keepAlive: Int = 30, board: String? = nil) {
        self.host = host; self.port = port; self.protocolVersion = protocolVersion; self.clientID = clientID; self.board = board ?? clientID; self.username = username
        self.password = password; self.tls = tls; self.topicPrefix = topicPrefix; self.site = site; self.person = person
        self.discovery = discovery; self.discoveryPrefix = discoveryPrefix; self.queueLimit = queueLimit; self.keepAlive = keepAlive
    }

    /// This board's client id when the site file names none: after its fleet controller name
    /// (unique in the fleet), else its host name and machine id (a cloned SD card keeps the
    /// host name `raspberrypi`; /etc/machine-id is made anew at first boot).
    public static func automaticClientID(controller: String?) -> String {
        if let controller { return "warden-" + TopicLevel.of(controller) }
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "board"
        let machine = ((try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return "warden-" + TopicLevel.of(host) + (machine.isEmpty ? "" : "-" + String(machine.prefix(8)))
    }

    /// Names the board (and, unless the site file chose one, the client id) after its fleet
    /// controller name.
    public mutating func identify(controller: String) {
        board = controller
        if !clientIDChosen { clientID = Self.automaticClientID(controller: controller) }
    }

    /// A topic level from free text (`TopicLevel`, shared with the policy loader's check
    /// that no two doors fold to one level).
    public static func topicLevel(_ s: String) -> String { TopicLevel.of(s) }
}
