import Foundation
import WardenCore

/// A reason code, as stored in the audit log.
public struct Reason: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let unknownDoor = Reason(rawValue: "unknown_door")
    public static let notRecognized = Reason(rawValue: "not_recognized")
    public static let badgeUnknown = Reason(rawValue: "badge_unknown")
    public static let badgeRevoked = Reason(rawValue: "badge_revoked")
    public static let personSuspended = Reason(rawValue: "person_suspended")
    public static let expired = Reason(rawValue: "expired")
    public static let notYetValid = Reason(rawValue: "not_yet_valid")
    public static let faceMismatch = Reason(rawValue: "face_mismatch")
    public static let noGrant = Reason(rawValue: "no_grant")
    public static let outsideSchedule = Reason(rawValue: "outside_schedule")
    public static let twoPersonPending = Reason(rawValue: "two_person_pending")
    /// Another door of the same interlock is open, released, or not known to be shut.
    public static let interlock = Reason(rawValue: "interlock")
    public static let twoPersonComplete = Reason(rawValue: "two_person_complete")
    public static let antiPassback = Reason(rawValue: "anti_passback")
    public static let antiPassbackSoft = Reason(rawValue: "anti_passback_soft")
    public static let lockdown = Reason(rawValue: "lockdown")
    public static let escortRequired = Reason(rawValue: "escort_required")
    public static let escorted = Reason(rawValue: "escorted")
    public static let emergencyRelease = Reason(rawValue: "emergency_release")
    public static let scheduledUnlock = Reason(rawValue: "scheduled_unlock")
    public static let firstPersonIn = Reason(rawValue: "first_person_in")
    /// The camera is faulted and the door's `camera_fallback: badge` let a badge alone do.
    public static let cameraFallback = Reason(rawValue: "camera_fallback:badge")
    /// The face looked like a print or a screen, not a live person (presentation-attack detection).
    public static let presentationAttack = Reason(rawValue: "presentation_attack")
    /// Liveness is required and too few fresh frames were scored to say the face is live.
    public static let livenessUnsure = Reason(rawValue: "liveness_unsure")
    /// Liveness is required and no PAD model is installed: the face factor is out of service.
    public static let livenessUnavailable = Reason(rawValue: "liveness_unavailable")
    /// A remote command the door's policy does not accept (`remote:` in the door).
    public static let remoteNotAllowed = Reason(rawValue: "remote_not_allowed")
    /// A remote release outside the door's `remote.schedule`.
    public static let remoteOutsideSchedule = Reason(rawValue: "remote_outside_schedule")
    public static let remoteRelease = Reason(rawValue: "remote_release")
    public static let remoteLockdown = Reason(rawValue: "remote_lockdown")
    public static let remoteLockdownCleared = Reason(rawValue: "remote_lockdown_cleared")
    public static func factorMissing(_ f: Factor) -> Reason { Reason(rawValue: "factor_missing:\(f.rawValue)") }
}

/// What the request brings: who (if anyone was recognised or the badge resolved to
/// someone), what the badge was, and which factors succeeded or failed.
public struct AccessRequest: Sendable, Equatable {
    public enum BadgeFact: Sendable, Equatable {
        case none
        case valid
        case unknown
        case revoked
    }
    public var door: String
    public var time: Date
    public var person: PersonFacts?
    public var badge: BadgeFact
    /// Factors that succeeded for `person`.
    public var succeeded: Set<Factor>
    /// Factors that were presented and failed (a face that did not match the badge holder).
    public var failed: Set<Factor>
    /// The door's camera is faulted (frozen, black, blinded, lost): its `camera_fallback` applies.
    public var cameraFault: Bool
    /// What presentation-attack detection said of the face presented, if one was.
    public var liveness: LivenessFact

    public init(door: String, time: Date, person: PersonFacts?, badge: BadgeFact = .none, succeeded: Set<Factor> = [], failed: Set<Factor> = [],
                cameraFault: Bool = false, liveness: LivenessFact = .notChecked) {
        self.door = door; self.time = time; self.person = person; self.badge = badge; self.succeeded = succeeded; self.failed = failed
        self.cameraFault = cameraFault; self.liveness = liveness
    }
}

/// Presentation-attack detection's word on the face of a request.
public enum LivenessFact: String, Sendable, Equatable, Codable {
    /// No face was presented, or no check ran (liveness off).
    case notChecked = "not_checked"
    case live
    /// A print or a screen.
    case attack
    /// Too few fresh frames were scored.
    case unsure
    /// No PAD model is installed.
    case unavailable
}

public struct PersonFacts: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var groups: Set<String>
    public var active: Bool
    public var validFrom: Date?
    public var validUntil: Date?
    public init(id: Int64, name: String, groups: Set<String> = [], active: Bool = true, validFrom: Date? = nil, validUntil: Date? = nil) {
        self.id = id; self.name = name; self.groups = groups; self.active = active; self.validFrom = validFrom; self.validUntil = validUntil
    }

    /// What the policy engine knows of a person, from whichever record holds them (a board's
    /// database row, the server's wire record): written once here, so the board's doors, its
    /// CLI and the console's explain read a person the same way.
    public init(id: Int64, name: String, status: PersonStatus, groups: Set<String>, validFrom: Date?, validUntil: Date?) {
        self.init(id: id, name: name, groups: groups, active: status == .active, validFrom: validFrom, validUntil: validUntil)
    }
}

public enum DoorMode: String, Sendable, Equatable, Codable {
    case normal
    /// Operator lockdown: nobody passes but the highest threat level's groups.
    case locked
    /// Free access (scheduled or by operator).
    case unlocked
    /// Fire alarm: fail-safe doors stand released.
    case emergencyRelease = "emergency_release"
}

/// What the controller knows that the policy files do not: modes, threat level, who is
/// where, and authentications waiting for a second person or an escort.
/// One door's lock and contact now.
public struct DoorNow: Sendable, Equatable {
    public var lockReleased: Bool
    public var open: Bool
    public init(lockReleased: Bool, open: Bool) { self.lockReleased = lockReleased; self.open = open }
    /// Locked and closed: what every other door of an interlock must be.
    public var shut: Bool { !lockReleased && !open }
}

public struct SiteState: Sendable, Equatable {
    public struct Position: Sendable, Equatable { public var zone: String; public var at: Date }
    public struct PendingAuth: Sendable, Equatable { public var person: Int64; public var at: Date; public var kind: String }

    public var doorModes: [String: DoorMode] = [:]
    public var threatLevel = 0
    /// The fire alarm input is active.
    public var fireAlarm = false
    public var positions: [Int64: Position] = [:]
    public var pending: [String: [PendingAuth]] = [:]
    /// Door → local date on which first-person-in was satisfied.
    public var firstPersonArrived: [String: String] = [:]
    /// What the doors running here are doing now, as their state machines say (set by the
    /// door loop every step): what an interlock asks of the other doors of its group. A door
    /// missing here (out of service, or on another board) is not known to be shut.
    public var doorsNow: [String: DoorNow] = [:]

    public init() {}

    /// The state an explanation assumes (`policy explain`, the console's explain): every door
    /// locked and closed, so an interlock holds nobody back.
    public static func everyDoorShut(_ policy: SitePolicy) -> SiteState {
        var s = SiteState()
        for id in policy.doors.keys { s.doorsNow[id] = DoorNow(lockReleased: false, open: false) }
        return s
    }

    public mutating func apply(_ changes: [StateChange]) {
        for c in changes {
            switch c {
            case .position(let p, let zone, let at): positions[p] = Position(zone: zone, at: at)
            case .addPending(let door, let auth): pending[door, default: []].append(auth)
            case .clearPending(let door, let kind): pending[door]?.removeAll { $0.kind == kind }
            case .firstPersonArrived(let door, let date): firstPersonArrived[door] = date
            case .doorMode(let door, let mode): if mode == .normal { doorModes[door] = nil } else { doorModes[door] = mode }
            }
        }
    }
}

public enum StateChange: Sendable, Equatable {
    case position(person: Int64, zone: String, at: Date)
    case addPending(door: String, SiteState.PendingAuth)
    case clearPending(door: String, kind: String)
    case firstPersonArrived(door: String, localDate: String)
    /// An operator's mode for the door (a remote lockdown; `.normal` clears it).
    case doorMode(door: String, DoorMode)
}

/// A command from off the door: who asked, over what, for which door.
public struct RemoteRequest: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable, CaseIterable {
        /// Pulse the strike, as a grant would.
        case release
        /// Hold the door in lockdown (only the highest threat level's groups pass).
        case lockdown
        /// End a remote lockdown: the door back to its normal mode.
        case clearLockdown = "clear_lockdown"
    }
    public var door: String
    public var time: Date
    public var action: Action
    /// Who the sender says it is (the broker's ACL is what authenticates who may send).
    public var requester: String
    public init(door: String, time: Date, action: Action, requester: String) {
        self.door = door; self.time = time; self.action = action; self.requester = requester
    }
}

public enum DoorAction: Sendable, Equatable {
    /// Pulse the strike for this many seconds.
    case release(seconds: TimeInterval)
    case stayLocked
    /// The door already stands released (free access or emergency).
    case alreadyReleased

    public var summary: String {
        switch self {
        case .release(let s): return "released \(Int(s))s"
        case .stayLocked: return "stayed locked"
        case .alreadyReleased: return "already released"
        }
    }
}

public struct Decision: Sendable, Equatable {
    public var allow: Bool
    public var reasons: [Reason]
    /// The id of the rule that decided.
    public var rule: String
    public var action: DoorAction
    /// The chain of checks, in words, for `policy explain` and the audit log.
    public var explanation: [String]
    /// What the caller must apply to the site state.
    public var changes: [StateChange]
}

extension Reason {
    /// The reason in words a guard reads on the live board (the code stays in the log).
    public var plainWords: String {
        let known: [String: String] = [
            "unknown_door": "the door is not in the policy",
            "not_recognized": "the face was not recognised",
            "badge_unknown": "the badge is not issued to anyone",
            "badge_revoked": "the badge was revoked",
            "person_suspended": "the person is suspended",
            "expired": "the person's access has expired",
            "not_yet_valid": "the person's access has not started yet",
            "face_mismatch": "the face does not match the badge's holder",
            "no_grant": "no grant lets this person into this zone",
            "outside_schedule": "outside the hours the grant allows",
            "two_person_pending": "waiting for a second person (two-person rule)",
            "two_person_complete": "second person arrived (two-person rule)",
            "interlock": "another door of the interlock is open or unlocked",
            "anti_passback": "anti-passback: the person is recorded inside already",
            "anti_passback_soft": "anti-passback (soft): allowed, but the person is recorded inside",
            "lockdown": "the site is in lockdown",
            "escort_required": "an escort must badge first",
            "escorted": "admitted with an escort",
            "emergency_release": "emergency release",
            "scheduled_unlock": "the door is on a scheduled unlock",
            "first_person_in": "first person in: the scheduled unlock begins",
            "camera_fallback:badge": "the camera is faulted; the badge alone was accepted",
            "presentation_attack": "the face looked like a photo or a screen, not a live person",
            "liveness_unsure": "too few live frames to be sure the face is live",
            "liveness_unavailable": "liveness is required but no anti-spoofing model is installed",
            "remote_not_allowed": "the door does not accept that remote command",
            "remote_outside_schedule": "remote release is not allowed at this time",
            "remote_release": "released remotely",
            "remote_lockdown": "lockdown ordered remotely",
            "remote_lockdown_cleared": "lockdown cleared remotely",
        ]
        if let w = known[rawValue] { return w }
        if rawValue.hasPrefix("factor_missing:") { return "the \(rawValue.dropFirst(15)) factor is missing or failed" }
        return rawValue.replacingOccurrences(of: "_", with: " ")
    }
}
