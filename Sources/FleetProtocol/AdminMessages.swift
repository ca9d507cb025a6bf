import Foundation

/// The admin API (`/admin/v1`): what `warden --server URL ...` sends in place of changing
/// a local database. The operator's token goes in `Authorization: Bearer`.
public enum AdminPath {
    public static let people = "/admin/v1/people"                 // GET list, POST AdminPersonAdd
    public static let personStatus = "/admin/v1/people/status"    // POST AdminPersonStatus
    public static let personRemove = "/admin/v1/people/remove"    // POST AdminPersonRef
    public static let personDetail = "/admin/v1/people/detail"    // GET ?person=REF: AdminPersonDetail
    public static let badges = "/admin/v1/badges"                 // GET ?person=REF: [BadgeRecordWire]
    public static let badgeIssue = "/admin/v1/badges/issue"       // POST AdminBadge
    public static let badgeRevoke = "/admin/v1/badges/revoke"     // POST AdminBadge
    public static let enroll = "/admin/v1/enroll"                 // POST AdminEnroll
    public static let enrollCamera = "/admin/v1/enroll/camera"    // POST AdminCameraEnroll: CaptureJobStatus
    public static let enrollCameraStatus = "/admin/v1/enroll/camera/status" // GET ?job=ID&after=V&wait=S: CaptureJobStatus
    public static let grants = "/admin/v1/grants"                 // POST AdminGrant
    public static let grantRevoke = "/admin/v1/grants/revoke"     // POST AdminGrantRef
    public static let groups = "/admin/v1/groups"                 // POST AdminGroupName (create)
    public static let groupMembers = "/admin/v1/groups/members"   // POST AdminGroupMember
    public static let site = "/admin/v1/site"                     // GET AdminSiteView
    public static let thresholds = "/admin/v1/thresholds"         // POST AdminConfiguration (matching.yaml)
    public static let policy = "/admin/v1/policy"                 // POST AdminConfiguration
    public static let auditVerify = "/admin/v1/audit/verify"      // GET ?silent_seconds=N: [CentralChainReport]
    public static let auditExport = "/admin/v1/audit/export"      // GET ?format=&controller=&door=&person=&from=&to= (epoch s): text
}

public struct AdminPersonAdd: Codable, Sendable {
    public var name: String; public var externalID: String?; public var validFrom: Date?; public var validUntil: Date?
    public init(name: String, externalID: String?, validFrom: Date?, validUntil: Date?) { self.name = name; self.externalID = externalID; self.validFrom = validFrom; self.validUntil = validUntil }
}
public struct AdminPersonRef: Codable, Sendable { public var person: String; public init(person: String) { self.person = person } }
public struct AdminPersonStatus: Codable, Sendable {
    public var person: String; public var active: Bool
    public init(person: String, active: Bool) { self.person = person; self.active = active }
}
public struct AdminRemoval: Codable, Sendable {
    public var person: PersonRecordWire; public var templatesDeleted: Int; public var badgesDeleted: Int
    public init(person: PersonRecordWire, templatesDeleted: Int, badgesDeleted: Int) { self.person = person; self.templatesDeleted = templatesDeleted; self.badgesDeleted = badgesDeleted }
}
public struct AdminBadge: Codable, Sendable {
    public var person: String?; public var credential: String; public var format: String
    public init(person: String?, credential: String, format: String) { self.person = person; self.credential = credential; self.format = format }
}
public struct AdminEnroll: Codable, Sendable {
    public var person: String; public var photo: Data; public var sourceName: String; public var useLargest: Bool; public var force: Bool
    public init(person: String, photo: Data, sourceName: String, useLargest: Bool, force: Bool) {
        self.person = person; self.photo = photo; self.sourceName = sourceName; self.useLargest = useLargest; self.force = force
    }
}
public struct AdminEnrollReply: Codable, Sendable {
    /// enrolled, already_enrolled, rejected
    public var status: String; public var templateID: Int64?; public var reasons: [String]?
    public var interEyeDistance: Double?; public var sharpness: Double?; public var yaw: Double?; public var roll: Double?
    /// The recognition models the photo was stored as (model ids; `templateID` is the
    /// first's). Absent from servers before the second model.
    public var models: [String]?
    public init(status: String, templateID: Int64? = nil, reasons: [String]? = nil) { self.status = status; self.templateID = templateID; self.reasons = reasons }
}
public struct AdminGrant: Codable, Sendable {
    public var person: String?; public var group: String?; public var zone: String; public var schedule: String?; public var until: Date?
    public init(person: String?, group: String?, zone: String, schedule: String?, until: Date?) { self.person = person; self.group = group; self.zone = zone; self.schedule = schedule; self.until = until }
}
public struct AdminConfiguration: Codable, Sendable {
    public var files: [String: String]
    public init(files: [String: String]) { self.files = files }
}
public struct AdminVersion: Codable, Sendable { public var version: Int64; public init(version: Int64) { self.version = version } }

/// What `audit verify --server` finds for one controller's chain as stored centrally.
public struct CentralChainReport: Codable, Sendable, Equatable {
    public var controller: String
    public var rows: Int64
    public var highWater: Int64
    public var problems: [String]
    public var lastSeen: Date?
    public var silentSeconds: Double?
    public init(controller: String, rows: Int64 = 0, highWater: Int64 = 0, problems: [String] = [], lastSeen: Date? = nil, silentSeconds: Double? = nil) {
        self.controller = controller; self.rows = rows; self.highWater = highWater; self.problems = problems; self.lastSeen = lastSeen; self.silentSeconds = silentSeconds
    }

    /// Whether every chain holds.
    public static func allHold(_ reports: [CentralChainReport]) -> Bool { reports.allSatisfy { $0.problems.isEmpty } }
}

public struct AdminGrantRef: Codable, Sendable { public var id: Int64; public init(id: Int64) { self.id = id } }

/// A person put into (`add`) or taken out of a group.
public struct AdminGroupMember: Codable, Sendable {
    public var person: String, group: String, add: Bool
    public init(person: String, group: String, add: Bool) { self.person = person; self.group = group; self.add = add }
}

public struct AdminGroupName: Codable, Sendable { public var name: String; public init(name: String) { self.name = name } }

/// What a template is, without the template: where it came from and how good it was.
public struct AdminTemplateInfo: Codable, Sendable, Equatable {
    public var id: Int64; public var modelID: String; public var sourceName: String
    public var interEyeDistance: Double; public var sharpness: Double; public var yaw: Double; public var roll: Double
    public var createdBy: String; public var createdAt: Date
    public init(id: Int64, modelID: String, sourceName: String, interEyeDistance: Double, sharpness: Double, yaw: Double, roll: Double, createdBy: String, createdAt: Date) {
        self.id = id; self.modelID = modelID; self.sourceName = sourceName; self.interEyeDistance = interEyeDistance
        self.sharpness = sharpness; self.yaw = yaw; self.roll = roll; self.createdBy = createdBy; self.createdAt = createdAt
    }
}

/// `person show` at the server.
public struct AdminPersonDetail: Codable, Sendable {
    public var person: PersonRecordWire; public var badges: [BadgeRecordWire]; public var templates: [AdminTemplateInfo]
    public init(person: PersonRecordWire, badges: [BadgeRecordWire], templates: [AdminTemplateInfo]) { self.person = person; self.badges = badges; self.templates = templates }
}

/// The site as the server holds it, without the people: the policy and thresholds in force,
/// the groups with their members and the grants made from the CLI. What `zone list`,
/// `door list`, `group list`, `grant list` and `policy check/explain` read against a server,
/// so each answers from the same code as on a board.
public struct AdminSiteView: Codable, Sendable {
    public var revision: Int64
    public var policy: ConfigurationVersion?
    public var thresholds: ConfigurationVersion?
    public var groups: [GroupRecordWire]
    public var grants: [GrantRecordWire]
    public init(revision: Int64, policy: ConfigurationVersion?, thresholds: ConfigurationVersion?, groups: [GroupRecordWire], grants: [GrantRecordWire]) {
        self.revision = revision; self.policy = policy; self.thresholds = thresholds; self.groups = groups; self.grants = grants
    }
}
