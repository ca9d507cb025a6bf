import Foundation

/// How a door behaves, from the policy and the pin map.
public struct DoorBehaviour: Sendable, Equatable {
    public enum ExitMode: String, Sendable { case release, quiet }
    public enum FailMode: String, Sendable { case secure, safe }
    public var strikeTime: TimeInterval
    public var heldOpenTime: TimeInterval
    /// Warn this long before the held-open alarm.
    public var preAlarm: TimeInterval
    /// REX releases the strike, or (quiet) only excuses the next opening.
    public var exitMode: ExitMode
    public var failMode: FailMode

    public init(strikeTime: TimeInterval = 5, heldOpenTime: TimeInterval = 30, preAlarm: TimeInterval = 10,
                exitMode: ExitMode = .release, failMode: FailMode = .secure) {
        self.strikeTime = strikeTime; self.heldOpenTime = heldOpenTime; self.preAlarm = min(preAlarm, heldOpenTime)
        self.exitMode = exitMode; self.failMode = failMode
    }
}

/// The door's mode from the site (policy): normal, locked down, free access, emergency.
public enum DoorHardwareMode: String, Sendable, Equatable {
    case normal
    case lockedDown = "locked_down"
    case unlocked
    case emergencyRelease = "emergency_release"
}

/// Inputs to the state machine. `tick` lets timers expire; call it at `nextDeadline`.
public enum DoorInput: Sendable, Equatable {
    case grant(strikeTime: TimeInterval?)
    case requestToExit
    case contact(open: Bool)
    case tamper(active: Bool)
    case mode(DoorHardwareMode)
    case tick
}

/// What happened, for the audit log (`door.<rawValue>`).
public enum DoorEvent: String, Sendable, Equatable, CaseIterable {
    case released, opened, closed, relocked
    case grantedNotOpened = "granted_not_opened"
    case requestToExit = "rex"
    case heldOpenPrealarm = "held_open_prealarm"
    case heldOpen = "held_open"
    case heldOpenCleared = "held_open_cleared"
    case forcedOpen = "forced_open"
    case forcedOpenCleared = "forced_open_cleared"
    case tamper
    case tamperCleared = "tamper_cleared"
    case modeChanged = "mode_changed"
    case emergencyRelease = "emergency_release"
}

public enum DoorOutput: Sendable, Equatable {
    /// Drive the lock: release true = unlocked.
    case lock(released: Bool)
    case event(DoorEvent, detail: String?)
}

/// The door's logic, with no I/O: events and a clock in, lock commands and events out.
///
/// - A grant releases the strike for its strike time. An opening during it is authorised;
///   the lock stays released while the door is open and relocks when it closes. If nobody
///   opens it, it relocks when the time runs out ("granted, not opened").
/// - REX releases the door the same way, or on a quiet-exit door excuses the next opening
///   without releasing.
/// - An opening with no grant or REX is forced open. An authorised opening that lasts past
///   the held-open time raises held open, with a pre-alarm before it. Alarms clear on close.
/// - Free access and emergency release hold the lock released; lockdown ignores grants
///   (egress by REX still works: locking people in is never the controller's call).
public struct DoorStateMachine: Sendable, Equatable {
    public let behaviour: DoorBehaviour
    public private(set) var mode: DoorHardwareMode = .normal
    public private(set) var lockReleased = false
    public private(set) var contactOpen = false
    public private(set) var tamperActive = false
    private var releasedUntil: Date?
    private var excusedUntil: Date?
    private var openedAt: Date?
    private var authorisedOpening = false
    private var prealarmRaised = false
    private var heldOpenRaised = false
    private var forcedRaised = false

    public init(behaviour: DoorBehaviour) { self.behaviour = behaviour }

    public var isAlarm: Bool { heldOpenRaised || forcedRaised || tamperActive }

    /// When `tick` must next be delivered.
    public var nextDeadline: Date? {
        var d: [Date] = []
        if let r = releasedUntil { d.append(r) }
        if let e = excusedUntil { d.append(e) }
        if let o = openedAt, authorisedOpening, !freeAccess {
            if !prealarmRaised { d.append(o.addingTimeInterval(behaviour.heldOpenTime - behaviour.preAlarm)) }
            if !heldOpenRaised { d.append(o.addingTimeInterval(behaviour.heldOpenTime)) }
        }
        return d.min()
    }

    var freeAccess: Bool { mode == .unlocked || mode == .emergencyRelease }

    public mutating func handle(_ input: DoorInput, at now: Date) -> [DoorOutput] {
        var out: [DoorOutput] = []
        func setLock(_ released: Bool) {
            if lockReleased != released { lockReleased = released; out.append(.lock(released: released)) }
        }
        switch input {
        case .grant(let t):
            guard mode != .lockedDown else { break }
            if freeAccess { break }
            releasedUntil = now.addingTimeInterval(t ?? behaviour.strikeTime)
            if !lockReleased { out.append(.event(.released, detail: nil)) }
            setLock(true)

        case .requestToExit:
            out.append(.event(.requestToExit, detail: behaviour.exitMode == .quiet ? "quiet exit" : nil))
            if freeAccess { break }
            if behaviour.exitMode == .release {
                releasedUntil = now.addingTimeInterval(behaviour.strikeTime)
                if !lockReleased { out.append(.event(.released, detail: "rex")) }
                setLock(true)
            } else {
                excusedUntil = now.addingTimeInterval(behaviour.strikeTime)
            }

        case .contact(let open):
            guard open != contactOpen else { break }
            contactOpen = open
            if open {
                openedAt = now
                let excused = (excusedUntil.map { now <= $0 } ?? false)
                if freeAccess || releasedUntil != nil || excused {
                    authorisedOpening = true
                    releasedUntil = nil
                    excusedUntil = nil
                    out.append(.event(.opened, detail: nil))
                } else {
                    authorisedOpening = false
                    forcedRaised = true
                    out.append(.event(.forcedOpen, detail: "contact opened with no grant or exit request"))
                }
            } else {
                out.append(.event(.closed, detail: nil))
                if forcedRaised { forcedRaised = false; out.append(.event(.forcedOpenCleared, detail: nil)) }
                if heldOpenRaised { heldOpenRaised = false; out.append(.event(.heldOpenCleared, detail: nil)) }
                prealarmRaised = false
                openedAt = nil
                authorisedOpening = false
                if !freeAccess && lockReleased && releasedUntil == nil {
                    setLock(false)
                    out.append(.event(.relocked, detail: nil))
                }
            }

        case .tamper(let active):
            guard active != tamperActive else { break }
            tamperActive = active
            out.append(.event(active ? .tamper : .tamperCleared, detail: nil))

        case .mode(let m):
            guard m != mode else { break }
            mode = m
            out.append(.event(m == .emergencyRelease ? .emergencyRelease : .modeChanged, detail: m.rawValue))
            if freeAccess {
                releasedUntil = nil
                setLock(true)
            } else if !(contactOpen && authorisedOpening) && releasedUntil == nil {
                if lockReleased { setLock(false); out.append(.event(.relocked, detail: nil)) }
            }

        case .tick:
            if let r = releasedUntil, now >= r {
                releasedUntil = nil
                if !contactOpen && !freeAccess {
                    setLock(false)
                    out.append(.event(.grantedNotOpened, detail: nil))
                    out.append(.event(.relocked, detail: nil))
                }
            }
            if let e = excusedUntil, now >= e { excusedUntil = nil }
            if let o = openedAt, authorisedOpening, contactOpen, !freeAccess {
                if !prealarmRaised, now >= o.addingTimeInterval(behaviour.heldOpenTime - behaviour.preAlarm) {
                    prealarmRaised = true
                    out.append(.event(.heldOpenPrealarm, detail: "\(Int(behaviour.preAlarm))s to alarm"))
                }
                if !heldOpenRaised, now >= o.addingTimeInterval(behaviour.heldOpenTime) {
                    heldOpenRaised = true
                    out.append(.event(.heldOpen, detail: "open longer than \(Int(behaviour.heldOpenTime))s"))
                }
            }
        }
        return out
    }

    /// The lock level every exit path leaves: fail-secure locked, fail-safe released.
    public var safeStateReleased: Bool { behaviour.failMode == .safe }

    /// Whether the relay line must be active for a lock command. The wiring makes an
    /// inactive (released, undriven) line the safe state for both kinds of door: a
    /// fail-secure strike is energised to release; a fail-safe maglock is energised to lock.
    public static func relayActive(released: Bool, failMode: DoorBehaviour.FailMode) -> Bool {
        failMode == .secure ? released : !released
    }
}
