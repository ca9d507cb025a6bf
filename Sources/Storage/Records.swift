import Foundation
import GRDB
import WardenCore

/// `PersonStatus` (WardenCore) stored as its text.
extension PersonStatus: DatabaseValueConvertible {}

/// A person who may be granted access.
public struct Person: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "person"
    public var id: Int64?
    public var displayName: String
    public var externalID: String?
    public var status: PersonStatus
    public var validFrom: Date?
    public var validUntil: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(displayName: String, externalID: String? = nil, status: PersonStatus = .active,
                validFrom: Date? = nil, validUntil: Date? = nil, at now: Date = Date()) {
        self.displayName = displayName
        self.externalID = externalID
        self.status = status
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.createdAt = now
        self.updatedAt = now
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// Active and inside its validity window at `time`.
    public func isEligible(at time: Date) -> Bool {
        status == .active && (validFrom.map { time >= $0 } ?? true) && (validUntil.map { time < $0 } ?? true)
    }
}

public enum BadgeStatus: String, Codable, Sendable, DatabaseValueConvertible {
    case active, revoked
}

public struct Badge: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "badge"
    public var id: Int64?
    public var personId: Int64
    public var format: String
    public var facilityCode: Int
    public var cardNumber: Int64
    public var status: BadgeStatus
    public var issuedAt: Date
    public var revokedAt: Date?

    public init(personId: Int64, credential: BadgeCredential, at now: Date = Date()) {
        self.personId = personId
        self.format = credential.format.rawValue
        self.facilityCode = credential.facilityCode
        self.cardNumber = credential.cardNumber
        self.status = .active
        self.issuedAt = now
    }

    /// A badge exactly as another store holds it (a fleet replica's rows keep the server's ids).
    public init(id: Int64, personId: Int64, format: String, facilityCode: Int, cardNumber: Int64, status: BadgeStatus, issuedAt: Date, revokedAt: Date?) {
        self.id = id; self.personId = personId; self.format = format; self.facilityCode = facilityCode; self.cardNumber = cardNumber
        self.status = status; self.issuedAt = issuedAt; self.revokedAt = revokedAt
    }

    public var credentialText: String { "\(facilityCode):\(cardNumber)" }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A stored face template: the embedding and how good the photo was. Never the photo.
public struct FaceTemplate: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "faceTemplate"
    public var id: Int64?
    public var personId: Int64
    /// `Embedding.serialized()`.
    public var embedding: Data
    public var modelID: String
    public var interEyeDistance: Double
    public var sharpness: Double
    public var yaw: Double
    public var roll: Double
    public var detectionScore: Double
    /// SHA-256 of the source file's bytes, to recognise a photo enrolled twice.
    public var sourceSHA256: String
    /// The file or camera name the photo came from.
    public var sourceName: String
    public var createdBy: String
    public var createdAt: Date

    public init(id: Int64? = nil, personId: Int64, embedding: Data, modelID: String, interEyeDistance: Double, sharpness: Double,
                yaw: Double, roll: Double, detectionScore: Double, sourceSHA256: String, sourceName: String,
                createdBy: String, createdAt: Date = Date()) {
        self.id = id; self.personId = personId; self.embedding = embedding; self.modelID = modelID
        self.interEyeDistance = interEyeDistance; self.sharpness = sharpness; self.yaw = yaw; self.roll = roll
        self.detectionScore = detectionScore; self.sourceSHA256 = sourceSHA256; self.sourceName = sourceName
        self.createdBy = createdBy; self.createdAt = createdAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct PersonGroup: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "personGroup"
    public var id: Int64?
    public var name: String
    public var createdAt: Date

    public init(name: String, at now: Date = Date()) { self.name = name; self.createdAt = now }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct GroupMembership: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "groupMembership"
    public var personGroupId: Int64
    public var personId: Int64
    public init(groupID: Int64, personID: Int64) { personGroupId = groupID; personId = personID }
}

public struct AdminChange: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "adminChange"
    public var id: Int64?
    public var at: Date
    public var `operator`: String
    public var action: String
    public var subject: String
    public var detail: String
    /// The audit log row that records this change: 0 for changes made before changes were
    /// linked to their events, nil for one made without an auditor (never from the CLI).
    public var auditSeq: Int64?

    public init(at: Date = Date(), operator op: Operator, action: String, subject: String, detail: String = "") {
        self.at = at; self.operator = op.name; self.action = action; self.subject = subject; self.detail = detail
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
