import Foundation

/// The fleet protocol: JSON over HTTPS with mutual TLS. Server and controllers share these
/// types and nothing else, so either side can be rebuilt without the other.
///
/// Downstream (server to controller): the change feed. Every change to people, badges,
/// templates, groups, grants, the policy or the thresholds takes the next revision; a
/// controller asks for what changed since the revision it applied and applies it in one
/// transaction. Upstream: each controller's own hash-chained audit rows, in order; the
/// server acknowledges a high-water sequence number, and the controller keeps every row
/// until it is acknowledged.
public enum FleetProtocol {
    /// Bumped when a message changes incompatibly; a peer speaking another refuses with a
    /// message naming both.
    public static let version = 1
    public static let versionHeader = "warden-fleet-protocol"
}

/// Where each message goes. `anonymous` paths need no client certificate (a board that has
/// not joined yet has none); every other `/fleet` path needs the controller's certificate,
/// and `/admin` paths an operator's token.
public enum FleetPath {
    public static let caCertificate = "/fleet/v1/ca"                 // GET, anonymous: the site CA (PEM)
    public static let join = "/fleet/v1/join"                        // POST JoinRequest, anonymous + one-time token
    public static let changes = "/fleet/v1/changes"                  // GET ?since=R&wait=S: ChangeSet (long poll)
    public static let applied = "/fleet/v1/applied"                  // POST AppliedReport
    public static let events = "/fleet/v1/events"                    // POST EventBatch: EventAck
    public static let heartbeat = "/fleet/v1/heartbeat"              // POST ControllerReport: HeartbeatReply
    public static let captures = "/fleet/v1/captures"                // GET ?wait=S: [CaptureJob] (long poll; at most one)
    public static let captureProgress = "/fleet/v1/captures/progress" // POST CaptureProgressWire
    public static let captureResult = "/fleet/v1/captures/result"    // POST CaptureResultWire: CaptureJobStatus
}

// MARK: joining

public struct JoinRequest: Codable, Sendable, Equatable {
    public var token: String
    /// PEM of a PKCS#10 request for the controller's own key (the key never leaves the board).
    public var certificateSigningRequest: String
    public var wardenVersion: String
    public init(token: String, certificateSigningRequest: String, wardenVersion: String) {
        self.token = token; self.certificateSigningRequest = certificateSigningRequest; self.wardenVersion = wardenVersion
    }
}

public struct JoinReply: Codable, Sendable, Equatable {
    public var controller: String
    /// PEM: the controller's certificate, signed by the site CA.
    public var certificate: String
    /// PEM: the site CA, which the controller trusts from now on (and only it).
    public var caCertificate: String
    /// The server's own address(es) as its certificate names them.
    public var serverNames: [String]
    public init(controller: String, certificate: String, caCertificate: String, serverNames: [String]) {
        self.controller = controller; self.certificate = certificate; self.caCertificate = caCertificate; self.serverNames = serverNames
    }
}

// MARK: the change feed

/// What a change is about. The order is the order of application: parents before children.
public enum EntityKind: String, Codable, Sendable, CaseIterable, Comparable {
    case person, group, badge, template, grant, policy, thresholds

    public var applicationOrder: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.applicationOrder < b.applicationOrder }
}

public struct PersonRecordWire: Codable, Sendable, Equatable {
    public var id: Int64
    public var displayName: String
    public var externalID: String?
    public var status: String
    public var validFrom: Date?
    public var validUntil: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public init(id: Int64, displayName: String, externalID: String?, status: String, validFrom: Date?, validUntil: Date?, createdAt: Date, updatedAt: Date) {
        self.id = id; self.displayName = displayName; self.externalID = externalID; self.status = status
        self.validFrom = validFrom; self.validUntil = validUntil; self.createdAt = createdAt; self.updatedAt = updatedAt
    }
}

public struct BadgeRecordWire: Codable, Sendable, Equatable {
    public var id: Int64
    public var personID: Int64
    public var format: String
    public var facilityCode: Int
    public var cardNumber: Int64
    public var status: String
    public var issuedAt: Date
    public var revokedAt: Date?
    public init(id: Int64, personID: Int64, format: String, facilityCode: Int, cardNumber: Int64, status: String, issuedAt: Date, revokedAt: Date?) {
        self.id = id; self.personID = personID; self.format = format; self.facilityCode = facilityCode; self.cardNumber = cardNumber
        self.status = status; self.issuedAt = issuedAt; self.revokedAt = revokedAt
    }
}

/// A face template on the wire: the embedding in the clear (inside TLS), since each side
/// seals it under its own key at rest.
public struct TemplateRecordWire: Codable, Sendable, Equatable {
    public var id: Int64
    public var personID: Int64
    /// `Embedding.serialized()`.
    public var embedding: Data
    public var modelID: String
    public var interEyeDistance: Double
    public var sharpness: Double
    public var yaw: Double
    public var roll: Double
    public var detectionScore: Double
    public var sourceSHA256: String
    public var sourceName: String
    public var createdBy: String
    public var createdAt: Date
    public init(id: Int64, personID: Int64, embedding: Data, modelID: String, interEyeDistance: Double, sharpness: Double, yaw: Double, roll: Double,
                detectionScore: Double, sourceSHA256: String, sourceName: String, createdBy: String, createdAt: Date) {
        self.id = id; self.personID = personID; self.embedding = embedding; self.modelID = modelID; self.interEyeDistance = interEyeDistance
        self.sharpness = sharpness; self.yaw = yaw; self.roll = roll; self.detectionScore = detectionScore; self.sourceSHA256 = sourceSHA256
        self.sourceName = sourceName; self.createdBy = createdBy; self.createdAt = createdAt
    }
}

public struct GroupRecordWire: Codable, Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var createdAt: Date
    public var members: [Int64]
    public init(id: Int64, name: String, createdAt: Date, members: [Int64]) { self.id = id; self.name = name; self.createdAt = createdAt; self.members = members }
}

public struct GrantRecordWire: Codable, Sendable, Equatable {
    public var id: Int64
    public var personID: Int64?
    public var groupName: String?
    public var zone: String
    public var schedule: String?
    public var until: Date?
    public var createdBy: String
    public var createdAt: Date
    public init(id: Int64, personID: Int64?, groupName: String?, zone: String, schedule: String?, until: Date?, createdBy: String, createdAt: Date) {
        self.id = id; self.personID = personID; self.groupName = groupName; self.zone = zone; self.schedule = schedule
        self.until = until; self.createdBy = createdBy; self.createdAt = createdAt
    }
}

/// A whole version of a text configuration: the policy's YAML files (name to text) or the
/// thresholds file.
public struct ConfigurationVersion: Codable, Sendable, Equatable {
    public var version: Int64
    public var files: [String: String]
    public var createdBy: String
    public var createdAt: Date
    public init(version: Int64, files: [String: String], createdBy: String, createdAt: Date) {
        self.version = version; self.files = files; self.createdBy = createdBy; self.createdAt = createdAt
    }
}

/// One entity's state as of `revision`: its whole record, or gone. A change feed carries
/// each changed entity once, in its latest state, so applying it is idempotent.
public struct ChangeItem: Codable, Sendable, Equatable {
    public var revision: Int64
    public var kind: EntityKind
    public var id: Int64
    public var deleted: Bool
    public var person: PersonRecordWire?
    public var badge: BadgeRecordWire?
    public var template: TemplateRecordWire?
    public var group: GroupRecordWire?
    public var grant: GrantRecordWire?
    public var configuration: ConfigurationVersion?

    public init(revision: Int64, kind: EntityKind, id: Int64, deleted: Bool = false) {
        self.revision = revision; self.kind = kind; self.id = id; self.deleted = deleted
    }
}

/// The answer to "what changed since R": the items, and the revision they bring the replica
/// to. A snapshot (a new controller, or one so far behind that the log was compacted past
/// its revision) carries every entity, and the replica replaces everything with it.
public struct ChangeSet: Codable, Sendable, Equatable {
    public var since: Int64
    public var through: Int64
    public var snapshot: Bool
    public var items: [ChangeItem]
    /// The server's revision when it answered: above `through`, more pages follow, and a
    /// board fetches the next while it applies this one.
    public var current: Int64?
    /// Which feed these revisions belong to. A database restored from a backup hands out
    /// revision numbers again; its feed id is new, and a board that sees another feed id
    /// than the one it applied takes a fresh snapshot instead of trusting its revision.
    public var feed: String?
    public init(since: Int64, through: Int64, snapshot: Bool, items: [ChangeItem], current: Int64? = nil, feed: String? = nil) {
        self.since = since; self.through = through; self.snapshot = snapshot; self.items = items; self.current = current; self.feed = feed
    }
}

public struct AppliedReport: Codable, Sendable, Equatable {
    public var revision: Int64
    public init(revision: Int64) { self.revision = revision }
}

// MARK: events

/// One row of a controller's audit log, exactly as stored there.
public struct UploadedRow: Codable, Sendable, Equatable {
    public var seq: Int64
    public var payload: String
    public var prevHash: String
    public var hash: String
    public init(seq: Int64, payload: String, prevHash: String, hash: String) { self.seq = seq; self.payload = payload; self.prevHash = prevHash; self.hash = hash }
}

/// Rows in order, the first one directly after the server's high-water mark (or, for a
/// controller's first upload, its first row).
public struct EventBatch: Codable, Sendable, Equatable {
    public var rows: [UploadedRow]
    public init(rows: [UploadedRow]) { self.rows = rows }
}

/// The server's high-water mark: every row up to it is stored and its chain checked. The
/// controller resumes after it; rows at or below it may be pruned locally.
public struct EventAck: Codable, Sendable, Equatable {
    public var highWater: Int64
    public var accepted: Int
    public init(highWater: Int64, accepted: Int) { self.highWater = highWater; self.accepted = accepted }
}

// MARK: heartbeat

public struct FleetDoorReport: Codable, Sendable, Equatable {
    public var id: String
    public var state: String
    public init(id: String, state: String) { self.id = id; self.state = state }
}

/// What a controller says of itself, about every few seconds.
public struct ControllerReport: Codable, Sendable, Equatable {
    public var wardenVersion: String
    public var appliedRevision: Int64
    /// Rows in the local log that the server has not acknowledged.
    public var bufferedEvents: Int64
    /// The controller's clock when it sent this.
    public var sentAt: Date
    /// The offset last measured against the server (server minus controller), seconds.
    public var clockSkewSeconds: Double?
    public var doors: [FleetDoorReport]
    public init(wardenVersion: String, appliedRevision: Int64, bufferedEvents: Int64, sentAt: Date, clockSkewSeconds: Double?, doors: [FleetDoorReport]) {
        self.wardenVersion = wardenVersion; self.appliedRevision = appliedRevision; self.bufferedEvents = bufferedEvents
        self.sentAt = sentAt; self.clockSkewSeconds = clockSkewSeconds; self.doors = doors
    }
}

public struct HeartbeatReply: Codable, Sendable, Equatable {
    public var serverTime: Date
    public var currentRevision: Int64
    public var highWater: Int64
    public init(serverTime: Date, currentRevision: Int64, highWater: Int64) { self.serverTime = serverTime; self.currentRevision = currentRevision; self.highWater = highWater }
}

/// Every error reply, from either API: what went wrong in words a person can act on.
public struct ErrorReply: Codable, Sendable, Equatable {
    public var error: String
    /// For an upload out of order: where the server wants the controller to resume.
    public var highWater: Int64?
    public init(error: String, highWater: Int64? = nil) { self.error = error; self.highWater = highWater }
}

public enum FleetJSON {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(date.timeIntervalSince1970)
        }
        e.dataEncodingStrategy = .base64
        e.outputFormatting = [.sortedKeys]
        return e
    }
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        // Every date a peer sends is checked here, once, for every message: out of range it
        // is refused with the field's path, before anything can do arithmetic on it.
        d.dateDecodingStrategy = .custom { dec in
            let seconds = try dec.singleValueContainer().decode(Double.self)
            do { return try PeerInput.date(seconds, FleetJSON.path(dec.codingPath)) } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: dec.codingPath, debugDescription: "\(error)", underlyingError: error))
            }
        }
        d.dataDecodingStrategy = .base64
        return d
    }

    /// `rows[3].seq` for a coding path.
    public static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + k.stringValue }
        }
        return out.isEmpty ? "body" : out
    }

    /// A body decoded and its fields checked, with what is wrong said in a person's words
    /// and the field named: the server's one way of reading what a peer sent.
    public static func decodeChecked<T: Decodable>(_ type: T.Type, from data: Data) throws(InvalidField) -> T {
        let value: T
        do { value = try decoder().decode(T.self, from: data) } catch let e as DecodingError {
            throw describe(e, T.self)
        } catch {
            throw InvalidField("body", "is not a valid \(T.self): \(error)")
        }
        if let checked = value as? any CheckedMessage { try checked.checkFields() }
        return value
    }

    static func describe<T>(_ e: DecodingError, _ type: T.Type) -> InvalidField {
        switch e {
        case .dataCorrupted(let c):
            if let inner = c.underlyingError as? InvalidField { return inner }
            return InvalidField(path(c.codingPath), c.codingPath.isEmpty ? "is not valid JSON for \(T.self)" : c.debugDescription)
        case .keyNotFound(let k, let c): return InvalidField(path(c.codingPath + [k]), "is missing")
        case .typeMismatch(let t, let c): return InvalidField(path(c.codingPath), "is not a \(t)")
        case .valueNotFound(let t, let c): return InvalidField(path(c.codingPath), "must be a \(t), not null")
        @unknown default: return InvalidField("body", "is not a valid \(T.self)")
        }
    }
}
