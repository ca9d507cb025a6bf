import Foundation

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
    public var clientID: String
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
                discovery: Bool = true, discoveryPrefix: String = "homeassistant", queueLimit: Int = 1000, keepAlive: Int = 30) {
        self.host = host; self.port = port; self.protocolVersion = protocolVersion; self.clientID = clientID; self.username = username
        self.password = password; self.tls = tls; self.topicPrefix = topicPrefix; self.site = site; self.person = person
        self.discovery = discovery; self.discoveryPrefix = discoveryPrefix; self.queueLimit = queueLimit; self.keepAlive = keepAlive
    }

    /// A topic level from free text (a site or door name): MQTT's wildcards and separators
    /// (`+ # /`) and anything outside a plain set become `_`, so a name can never widen a
    /// subscription or add a level.
    public static func topicLevel(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        // Byte by byte: a multi-byte character becomes one `_` per byte, still never a separator.
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"): out.append(b)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): out.append(b + 32)
            default: if b < 0x80 || b >= 0xC0 { out.append(UInt8(ascii: "_")) }
            }
        }
        return out.isEmpty ? "_" : String(decoding: out, as: UTF8.self)
    }
}
