import Foundation

/// The site as the policy files describe it. Plain values; `PolicyLoader` builds it from
/// YAML and `PolicyValidator` checks it.
public struct SitePolicy: Sendable, Equatable {
    public var name: String
    public var timeZone: TimeZone
    public var zones: [String: Zone]
    public var doors: [String: Door]
    public var schedules: [String: Schedule]
    public var holidays: [String: HolidayCalendar]
    public var groups: [String: Group]
    public var grants: [Grant]
    public var threatLevels: [ThreatLevel]
    /// Groups of doors of which only one may be released or open at a time (mantraps).
    public var interlocks: [Interlock]

    public init(name: String = "site", timeZone: TimeZone = TimeZone(identifier: "UTC")!, zones: [String: Zone] = [:],
                doors: [String: Door] = [:], schedules: [String: Schedule] = [:], holidays: [String: HolidayCalendar] = [:],
                groups: [String: Group] = [:], grants: [Grant] = [], threatLevels: [ThreatLevel] = [], interlocks: [Interlock] = []) {
        self.name = name; self.timeZone = timeZone; self.zones = zones; self.doors = doors; self.schedules = schedules
        self.holidays = holidays; self.groups = groups; self.grants = grants; self.threatLevels = threatLevels; self.interlocks = interlocks
    }

    /// The interlock a door belongs to (a door is in one at most).
    public func interlock(of door: String) -> Interlock? { interlocks.first { $0.doors.contains(door) } }

    /// The same site with liveness off at every door (a demo or a test without the PAD
    /// models): a door's own setting overrides its zones', so the doors are enough.
    public func withLivenessOff() -> SitePolicy {
        var p = self
        for id in p.doors.keys { p.doors[id]!.liveness = .off; p.doors[id]!.livenessSchedule = [] }
        return p
    }

    /// The zone and its ancestors, innermost first.
    public func lineage(of zone: String) -> [String] {
        var out: [String] = [], seen = Set<String>()
        var current: String? = zone
        while let z = current, seen.insert(z).inserted, let info = zones[z] { out.append(z); current = info.parent }
        return out
    }
}

public struct Zone: Sendable, Equatable {
    public var id: String
    public var name: String
    public var parent: String?
    /// Higher is more sensitive. A grant to a zone covers its sub-zones only up to its own
    /// sensitivity: a more sensitive room inside needs a grant of its own.
    public var sensitivity: Int
    public var rules: ZoneRules
    /// Liveness for the doors into this zone (and its sub-zones) that do not set their own.
    public var liveness: LivenessRequirement?
    public init(id: String, name: String? = nil, parent: String? = nil, sensitivity: Int = 1, rules: ZoneRules = ZoneRules(),
                liveness: LivenessRequirement? = nil) {
        self.id = id; self.name = name ?? id; self.parent = parent; self.sensitivity = sensitivity; self.rules = rules; self.liveness = liveness
    }
}

/// Rules for sensitive zones.
public struct ZoneRules: Sendable, Equatable {
    public var twoPerson: TwoPersonRule?
    public var antiPassback: AntiPassback?
    public var escort: EscortRule?
    public init(twoPerson: TwoPersonRule? = nil, antiPassback: AntiPassback? = nil, escort: EscortRule? = nil) {
        self.twoPerson = twoPerson; self.antiPassback = antiPassback; self.escort = escort
    }
}

public struct TwoPersonRule: Sendable, Equatable {
    /// Both people must authenticate at the door within this many seconds.
    public var window: TimeInterval
    /// When the rule applies (always, if nil).
    public var schedule: String?
    public init(window: TimeInterval, schedule: String? = nil) { self.window = window; self.schedule = schedule }
}

public struct AntiPassback: Sendable, Equatable {
    public enum Mode: String, Sendable { case soft, hard }
    public var mode: Mode
    /// A recorded position older than this no longer counts (a missed exit read is forgiven).
    public var reset: TimeInterval
    public init(mode: Mode, reset: TimeInterval = 12 * 3600) { self.mode = mode; self.reset = reset }
}

public struct EscortRule: Sendable, Equatable {
    /// Members of these groups need an escort.
    public var visitorGroups: [String]
    /// Members of these groups may escort.
    public var escortGroups: [String]
    /// The escort must authenticate at the same door within this many seconds.
    public var window: TimeInterval
    public init(visitorGroups: [String], escortGroups: [String], window: TimeInterval = 30) {
        self.visitorGroups = visitorGroups; self.escortGroups = escortGroups; self.window = window
    }
}

/// What a door asks of a person.
public enum FactorRequirement: String, Sendable, Equatable, CaseIterable {
    case face
    case badge
    case badgeAndFace = "badge+face"
    case badgeOrFace = "badge|face"

    public func missing(given ok: Set<Factor>) -> [Factor] {
        switch self {
        case .face: return ok.contains(.face) ? [] : [.face]
        case .badge: return ok.contains(.badge) ? [] : [.badge]
        case .badgeAndFace: return [Factor.badge, .face].filter { !ok.contains($0) }
        case .badgeOrFace: return ok.contains(.badge) || ok.contains(.face) ? [] : [.badge, .face]
        }
    }
}

/// `remote`: an operator's or an integration's request from off the door (an MQTT command),
/// accepted only where the door's `remote` says so; never part of a person's factors.
public enum Factor: String, Sendable, Hashable, CaseIterable, Codable { case face, badge, pin, remote }

/// What a door accepts from off the door (remote commands over MQTT), each checked by the
/// policy engine as a `remote` factor. Nothing, by default.
public struct RemoteAccess: Sendable, Equatable {
    /// A remote release pulses the strike for the door's strike time.
    public var release: Bool
    /// A remote lockdown, and its clearing.
    public var lockdown: Bool
    /// Remote release only while this schedule is active (any time, if nil). Lockdown is
    /// never limited by a schedule: locking a door is always allowed where it is allowed.
    public var schedule: String?
    public init(release: Bool = false, lockdown: Bool = false, schedule: String? = nil) {
        self.release = release; self.lockdown = lockdown; self.schedule = schedule
    }
    public static let none = RemoteAccess()
}

public enum FailMode: String, Sendable, Equatable { case secure, safe }

/// Whether a face must be shown to be live (presentation-attack detection) to count.
public enum LivenessRequirement: String, Sendable, Equatable, CaseIterable {
    /// A face counts only when several fresh frames say bona fide; a door with no PAD model
    /// installed has its face factor out of service.
    case required
    /// Faces count without a liveness check: a photo or a screen of an enrolled person can
    /// pass the face factor.
    case off
}

/// What a door that needs a face does while its camera is faulted: refuse (the default:
/// the face factor is simply missing), or accept a badge alone, logged as a fallback.
public enum CameraFallback: String, Sendable, Equatable { case deny, badge }

public struct Door: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The zone this door leads into, and the one it leads from (nil: outside the site).
    public var into: String
    public var from: String?
    public var hardware: [String: String]
    public var strikeTime: TimeInterval
    public var heldOpenTime: TimeInterval
    public var factors: FactorRequirement
    /// Factor overrides by schedule, first match wins.
    public var factorSchedule: [(schedule: String, factors: FactorRequirement)]
    /// Scheduled free access.
    public var unlockSchedule: String?
    /// The scheduled unlock starts only after an authorised person has come through.
    public var firstPersonIn: Bool
    public var failMode: FailMode
    public var cameraFallback: CameraFallback
    /// Liveness at this door (nil: the zone's, else off).
    public var liveness: LivenessRequirement?
    /// Liveness overrides by schedule, first match wins.
    public var livenessSchedule: [(schedule: String, liveness: LivenessRequirement)]
    /// What this door accepts from remote commands (nothing, by default).
    public var remote: RemoteAccess
    /// An escape route: its exit button releases it even while another door of its
    /// interlock is open (life safety before the mantrap).
    public var exitRoute: Bool = false

    public init(id: String, name: String? = nil, into: String, from: String? = nil, hardware: [String: String] = [:],
                strikeTime: TimeInterval = 5, heldOpenTime: TimeInterval = 30, factors: FactorRequirement,
                factorSchedule: [(schedule: String, factors: FactorRequirement)] = [], unlockSchedule: String? = nil,
                firstPersonIn: Bool = false, failMode: FailMode = .secure, cameraFallback: CameraFallback = .deny,
                liveness: LivenessRequirement? = nil, livenessSchedule: [(schedule: String, liveness: LivenessRequirement)] = [],
                remote: RemoteAccess = .none) {
        self.id = id; self.name = name ?? id; self.into = into; self.from = from; self.hardware = hardware
        self.strikeTime = strikeTime; self.heldOpenTime = heldOpenTime; self.factors = factors; self.factorSchedule = factorSchedule
        self.unlockSchedule = unlockSchedule; self.firstPersonIn = firstPersonIn; self.failMode = failMode; self.cameraFallback = cameraFallback
        self.liveness = liveness; self.livenessSchedule = livenessSchedule; self.remote = remote
    }

    public static func == (a: Door, b: Door) -> Bool {
        a.id == b.id && a.name == b.name && a.into == b.into && a.from == b.from && a.hardware == b.hardware
            && a.strikeTime == b.strikeTime && a.heldOpenTime == b.heldOpenTime && a.factors == b.factors
            && a.factorSchedule.map { "\($0.schedule)=\($0.factors.rawValue)" } == b.factorSchedule.map { "\($0.schedule)=\($0.factors.rawValue)" }
            && a.unlockSchedule == b.unlockSchedule && a.firstPersonIn == b.firstPersonIn && a.failMode == b.failMode
            && a.cameraFallback == b.cameraFallback && a.liveness == b.liveness && a.remote == b.remote && a.exitRoute == b.exitRoute
            && a.livenessSchedule.map { "\($0.schedule)=\($0.liveness.rawValue)" } == b.livenessSchedule.map { "\($0.schedule)=\($0.liveness.rawValue)" }
    }
}

public struct Group: Sendable, Equatable {
    public var id: String
    public var name: String
    public init(id: String, name: String? = nil) { self.id = id; self.name = name ?? id }
}

public struct Grant: Sendable, Equatable {
    public enum Subject: Sendable, Hashable, CustomStringConvertible {
        case person(Int64)
        case group(String)
        public var description: String {
            switch self { case .person(let id): return "person:\(id)"; case .group(let g): return "group:\(g)" }
        }
    }
    public var id: String
    public var subject: Subject
    public var zone: String
    /// Always, if nil.
    public var schedule: String?
    /// The grant ends at this instant.
    public var until: Date?
    public init(id: String, subject: Subject, zone: String, schedule: String? = nil, until: Date? = nil) {
        self.id = id; self.subject = subject; self.zone = zone; self.schedule = schedule; self.until = until
    }
}

/// Above level 0, only the listed groups pass any door.
/// A mantrap: a door of the group releases only while every other door of it is locked and
/// closed. Exit buttons are interlocked too, except at doors marked `exit_route`.
public struct Interlock: Sendable, Equatable {
    public var id: String
    /// Two to four doors.
    public var doors: [String]
    public init(id: String, doors: [String]) { self.id = id; self.doors = doors }
    public static let maximumDoors = 4
}

public struct ThreatLevel: Sendable, Equatable {
    public var level: Int
    public var name: String
    public var allowedGroups: [String]
    public init(level: Int, name: String, allowedGroups: [String]) { self.level = level; self.name = name; self.allowedGroups = allowedGroups }
}

extension SitePolicy {
    /// The files' grants plus grants made outside them (`warden grant` on a board, the
    /// server's grants): a grant naming a zone or schedule the files no longer define is
    /// left out (fail secure) and reported through `warn`.
    public func adding(_ extra: [Grant], warn: (String) -> Void) -> SitePolicy {
        var p = self
        for g in extra {
            guard zones[g.zone] != nil else { warn("grant \(g.id) names zone '\(g.zone)', which the policy no longer defines; ignored"); continue }
            if let s = g.schedule, schedules[s] == nil { warn("grant \(g.id) names schedule '\(s)', which the policy no longer defines; ignored"); continue }
            p.grants.append(g)
        }
        return p
    }
}

extension Grant {
    /// A grant made outside the policy files: with `warden grant` on a board, or at the fleet
    /// server and replicated to every board with its number. Its rule id is `grant-N`, the
    /// same on the board, at the server, in the console and in the audit log (a board called
    /// it `cli-N` and the console `server-N`, so one grant had two ids).
    public init(stored id: Int64, personID: Int64?, groupName: String?, zone: String, schedule: String?, until: Date?) {
        self.init(id: Self.ruleID(stored: id), subject: personID.map { .person($0) } ?? .group(groupName ?? ""), zone: zone, schedule: schedule, until: until)
    }

    public static func ruleID(stored id: Int64) -> String { "grant-\(id)" }

    /// The stored grant's number from what a person types: `grant-7`, `7`, `#7`, or the
    /// earlier names `cli-7` and `server-7`; nil for a rule of the policy files.
    public static func storedID(_ text: String) -> Int64? {
        var t = Substring(text.trimmingCharacters(in: .whitespaces))
        for prefix in ["grant-", "cli-", "server-", "#"] where t.hasPrefix(prefix) { t = t.dropFirst(prefix.count); break }
        guard let id = Int64(t), id > 0 else { return nil }
        return id
    }
}

extension SitePolicy {
    /// Why a grant to `zone` during `schedule` does not fit this policy, or nil: the check
    /// a board's `grant` command and the fleet server's make, in the same words.
    public func grantProblem(zone: String, schedule: String?) -> String? {
        if zones[zone] == nil { return "no zone '\(zone)'; zones: \(zones.keys.sorted().joined(separator: ", "))" }
        if let schedule, schedules[schedule] == nil { return "no schedule '\(schedule)'; schedules: \(schedules.keys.sorted().joined(separator: ", "))" }
        return nil
    }
}
