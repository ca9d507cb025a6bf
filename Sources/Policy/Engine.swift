import Foundation

/// The access decision: `(request, state, policy) -> Decision`. Pure: no clock, no I/O,
/// no mutation. The caller applies `Decision.changes` to its state.
public struct PolicyEngine: Sendable {
    public let policy: SitePolicy
    public init(policy: SitePolicy) { self.policy = policy }

    public func decide(_ req: AccessRequest, state: SiteState) -> Decision {
        let d = decideOnPolicy(req, state: state)
        // An interlock is the last word on a release, whoever asked: a grant while another
        // door of the group is not shut is refused, and changes nothing (no position, no
        // first-person-in), as if it had not been asked.
        guard d.allow, case .release = d.action, let door = policy.doors[req.door], let hold = interlockHold(door: door.id, state: state) else { return d }
        return Decision(allow: false, reasons: [.interlock], rule: "interlock:\(hold.interlock.id)", action: .stayLocked,
                        explanation: d.explanation + ["DENY: interlock \(hold.interlock.id): door \(hold.door) \(hold.why); "
                                                      + "a door of the group releases only while every other one is locked and closed"],
                        changes: [])
    }

    /// What keeps a door of an interlock from releasing now: another door of its group that
    /// is open, released, or not known to be shut (out of service, or not on this board).
    /// nil: the door is in no interlock, or every other door of it is shut.
    public func interlockHold(door: String, state: SiteState) -> (interlock: Interlock, door: String, why: String)? {
        guard let group = policy.interlock(of: door) else { return nil }
        for other in group.doors where other != door {
            guard let now = state.doorsNow[other] else { return (group, other, "is not known to be shut (out of service, or not on this controller)") }
            if now.open { return (group, other, "is open") }
            if now.lockReleased { return (group, other, "is released") }
        }
        return nil
    }

    /// Why a door's exit button must not release it now, or nil: an interlocked door waits
    /// for the rest of its group, unless it is an escape route (`exit_route: true`).
    public func exitRefusal(door: String, state: SiteState) -> String? {
        guard policy.doors[door]?.exitRoute != true, let hold = interlockHold(door: door, state: state) else { return nil }
        return "interlock \(hold.interlock.id): door \(hold.door) \(hold.why)"
    }

    func decideOnPolicy(_ req: AccessRequest, state: SiteState) -> Decision {
        var why: [String] = []
        func deny(_ reasons: [Reason], rule: String, _ note: String, changes: [StateChange] = []) -> Decision {
            why.append("DENY: " + note)
            return Decision(allow: false, reasons: reasons, rule: rule, action: .stayLocked, explanation: why, changes: changes)
        }

        guard let door = policy.doors[req.door] else {
            return deny([.unknownDoor], rule: "site", "no door '\(req.door)' in the policy")
        }
        why.append("door \(door.id) leads into zone \(door.into)")

        // 1. Modes that override everything else.
        let mode = effectiveMode(door: door, at: req.time, state: state)
        why.append("door mode: \(mode.rawValue)")
        if mode == .emergencyRelease {
            why.append("ALLOW: fire alarm active and the door is fail-safe")
            return Decision(allow: true, reasons: [.emergencyRelease], rule: "emergency", action: .alreadyReleased, explanation: why, changes: [])
        }
        let groups = req.person?.groups ?? []
        if state.threatLevel > 0 || mode == .locked {
            let level = state.threatLevel > 0 ? policy.threatLevels.first { $0.level == state.threatLevel }
                                                : policy.threatLevels.max { $0.level < $1.level }
            let allowed = Set(level?.allowedGroups ?? [])
            let label = state.threatLevel > 0 ? "threat level \(state.threatLevel)" : "door locked down"
            if groups.isDisjoint(with: allowed) {
                return deny([.lockdown], rule: state.threatLevel > 0 ? "threat-level:\(state.threatLevel)" : "door-mode:locked",
                            "\(label): only \(allowed.sorted().joined(separator: ", ")) may pass")
            }
            why.append("\(label): passes as a member of \(groups.intersection(allowed).sorted().joined(separator: ", "))")
        } else if mode == .unlocked {
            why.append("ALLOW: the door is in free access")
            return Decision(allow: true, reasons: [.scheduledUnlock], rule: "door-mode:unlocked", action: .alreadyReleased, explanation: why, changes: [])
        }

        // A remote release (an MQTT command) stands for no person: the door's `remote`
        // decides, after the modes above (a lockdown or a threat level refuses it).
        if req.succeeded.contains(.remote) {
            guard req.person == nil, req.badge == .none, req.succeeded == [.remote] else {
                return deny([.remoteNotAllowed], rule: "door:\(door.id):remote", "a remote release is a request of its own, never combined with a person's factors")
            }
            guard door.remote.release else {
                return deny([.remoteNotAllowed], rule: "door:\(door.id):remote", "door \(door.id) does not accept a remote release (its policy has no remote: release: true)")
            }
            if let s = door.remote.schedule, !scheduleActive(s, req.time) {
                return deny([.remoteOutsideSchedule], rule: "door:\(door.id):remote", "door \(door.id) accepts a remote release only during \(s)")
            }
            why.append("ALLOW: remote release" + (door.remote.schedule.map { " (during \($0))" } ?? ""))
            return Decision(allow: true, reasons: [.remoteRelease], rule: "remote:\(door.id)", action: .release(seconds: door.strikeTime), explanation: why, changes: [])
        }

        // 2. Identity and credential.
        if req.badge == .revoked { return deny([.badgeRevoked], rule: "credential", "the badge is revoked") }
        // A face that failed presentation-attack detection is never granted, whatever it
        // matched and whatever the door's liveness setting.
        if req.liveness == .attack {
            return deny([.presentationAttack], rule: "liveness:\(door.id)", "the face shown looked like a print or a screen, not a live person")
        }
        guard let person = req.person else {
            if req.badge == .unknown { return deny([.badgeUnknown], rule: "credential", "the badge is not issued to anyone") }
            return deny([.notRecognized], rule: "identity", "nobody was recognised")
        }
        why.append("person #\(person.id) \(person.name), groups: \(person.groups.sorted().joined(separator: ", "))")
        if !person.active { return deny([.personSuspended], rule: "identity", "the person is suspended") }
        if let f = person.validFrom, req.time < f { return deny([.notYetValid], rule: "identity", "access starts \(f)") }
        if let u = person.validUntil, req.time >= u { return deny([.expired], rule: "identity", "access ended \(u)") }

        // 3. Factors required now.
        let livenessNow = liveness(for: door, at: req.time)
        // Liveness required with no PAD model: the face factor is out of service, as if the
        // camera were faulted (the door's camera_fallback applies).
        let faceOutOfService = livenessNow == .required && req.liveness == .unavailable
        let required = factors(for: door, at: req.time, cameraFault: req.cameraFault || faceOutOfService)
        let fellBack = required != factors(for: door, at: req.time)
        if faceOutOfService { why.append("liveness required but no presentation-attack model is installed: the face factor is out of service") }
        if fellBack { why.append("face factor unavailable: camera_fallback badge, a badge alone will do") }
        if livenessNow == .required && req.succeeded.contains(.face) && !faceOutOfService {
            why.append("liveness required: \(req.liveness.rawValue)")
            if req.liveness != .live {
                return deny([.livenessUnsure], rule: "liveness:\(door.id)", "liveness is required and the face was not shown to be live in enough frames")
            }
        }
        why.append("factors required now: \(required.rawValue); succeeded: \(req.succeeded.map(\.rawValue).sorted().joined(separator: ","))")
        let missing = required.missing(given: req.succeeded)
        if faceOutOfService && !missing.isEmpty && (req.succeeded.contains(.face) || missing.contains(.face)) {
            return deny([.livenessUnavailable], rule: "liveness:\(door.id)",
                        "the face factor is out of service (no presentation-attack model)" + (required == .badge ? "; a badge alone will do" : ""))
        }
        if !missing.isEmpty {
            let reasons = missing.map { req.failed.contains($0) && $0 == .face ? Reason.faceMismatch : Reason.factorMissing($0) }
            return deny(reasons, rule: "factors:\(door.id)", "missing \(missing.map(\.rawValue).joined(separator: ", "))")
        }

        // 4. A grant that covers this zone, now.
        let coverage = grantCoverage(person: person, zone: door.into, at: req.time)
        guard let grant = coverage.grant else {
            return deny([coverage.reason], rule: "grants", coverage.note)
        }
        why.append("granted by \(grant.id) (\(grant.subject) -> \(grant.zone)\(grant.schedule.map { " during \($0)" } ?? ""))")

        // 5. Rules of the zone entered.
        var reasons: [Reason] = []
        var changes: [StateChange] = []
        let zone = policy.zones[door.into]
        let rules = zone?.rules ?? ZoneRules()

        if let escort = rules.escort {
            let window = escort.window
            let recentEscort = (state.pending[door.id] ?? []).contains { $0.kind == "escort" && req.time.timeIntervalSince($0.at) <= window && $0.person != person.id }
            if !person.groups.isDisjoint(with: escort.visitorGroups) {
                if !recentEscort {
                    return deny([.escortRequired], rule: "zone:\(door.into):escort", "a visitor needs an escort (\(escort.escortGroups.joined(separator: ", "))) to authenticate here within \(Int(window))s",
                                changes: [.addPending(door: door.id, SiteState.PendingAuth(person: person.id, at: req.time, kind: "visitor"))])
                }
                reasons.append(.escorted)
                why.append("escorted: an escort authenticated within \(Int(window))s")
            } else if !person.groups.isDisjoint(with: escort.escortGroups) {
                changes.append(.addPending(door: door.id, SiteState.PendingAuth(person: person.id, at: req.time, kind: "escort")))
                if (state.pending[door.id] ?? []).contains(where: { $0.kind == "visitor" && req.time.timeIntervalSince($0.at) <= window }) {
                    why.append("escorting a visitor who is waiting at the door")
                }
            }
        }

        if let two = rules.twoPerson, two.schedule.map({ scheduleActive($0, req.time) }) ?? true {
            let waiting = (state.pending[door.id] ?? []).filter { $0.kind == "two-person" && req.time.timeIntervalSince($0.at) <= two.window && $0.at <= req.time }
            if let other = waiting.first(where: { $0.person != person.id }) {
                reasons.append(.twoPersonComplete)
                changes.append(.clearPending(door: door.id, kind: "two-person"))
                why.append("two-person rule satisfied with #\(other.person) (\(Int(req.time.timeIntervalSince(other.at)))s apart)")
            } else {
                return deny([.twoPersonPending], rule: "zone:\(door.into):two-person",
                            "two-person rule: waiting for a second authorised person within \(Int(two.window))s",
                            changes: [.addPending(door: door.id, SiteState.PendingAuth(person: person.id, at: req.time, kind: "two-person"))])
            }
        }

        if let apb = rules.antiPassback, let pos = state.positions[person.id], pos.zone == door.into,
           req.time.timeIntervalSince(pos.at) < apb.reset {
            if apb.mode == .hard {
                return deny([.antiPassback], rule: "zone:\(door.into):anti-passback", "anti-passback: already inside \(door.into) since \(pos.at)")
            }
            reasons.append(.antiPassbackSoft)
            why.append("anti-passback (soft): already inside \(door.into); logged, not enforced")
        }

        // 6. Allowed.
        if fellBack { reasons.append(.cameraFallback) }
        changes.append(.position(person: person.id, zone: door.into, at: req.time))
        if door.firstPersonIn, let unlock = door.unlockSchedule, scheduleActive(unlock, req.time) {
            let today = LocalTime(req.time, policy.timeZone).date
            if state.firstPersonArrived[door.id] != today {
                changes.append(.firstPersonArrived(door: door.id, localDate: today))
                reasons.append(.firstPersonIn)
                why.append("first person in: the scheduled unlock (\(unlock)) starts now")
            }
        }
        why.append("ALLOW")
        return Decision(allow: true, reasons: reasons, rule: "grant:\(grant.id)", action: .release(seconds: door.strikeTime), explanation: why, changes: changes)
    }

    /// A remote command. A release is an access request with the `remote` factor alone, so
    /// every mode check of `decide` applies to it; a lockdown or its clearing changes the
    /// door's mode, where the door's `remote.lockdown` allows it.
    public func decide(_ remote: RemoteRequest, state: SiteState) -> Decision {
        if remote.action == .release {
            return decide(AccessRequest(door: remote.door, time: remote.time, person: nil, succeeded: [.remote]), state: state)
        }
        var why = ["remote \(remote.action.rawValue) requested by \(remote.requester)"]
        func deny(_ reason: Reason, _ note: String) -> Decision {
            why.append("DENY: " + note)
            return Decision(allow: false, reasons: [reason], rule: "door:\(remote.door):remote", action: .stayLocked, explanation: why, changes: [])
        }
        guard let door = policy.doors[remote.door] else { return deny(.unknownDoor, "no door '\(remote.door)' in the policy") }
        guard door.remote.lockdown else {
            return deny(.remoteNotAllowed, "door \(door.id) does not accept a remote lockdown (its policy has no remote: lockdown: true)")
        }
        let lock = remote.action == .lockdown
        let current = state.doorModes[door.id] ?? .normal
        why.append("door mode was \(current.rawValue)")
        if !lock && current != .locked {
            why.append("ALLOW: not locked down; nothing to clear")
            return Decision(allow: true, reasons: [.remoteLockdownCleared], rule: "remote:\(door.id)", action: .stayLocked, explanation: why, changes: [])
        }
        why.append(lock ? "ALLOW: door locked down" : "ALLOW: lockdown cleared")
        return Decision(allow: true, reasons: [lock ? .remoteLockdown : .remoteLockdownCleared], rule: "remote:\(door.id)", action: .stayLocked,
                        explanation: why, changes: [.doorMode(door: door.id, lock ? .locked : .normal)])
    }

    /// The door's mode now: fire alarm for fail-safe doors, an operator override, a
    /// scheduled unlock (gated by first-person-in), else normal.
    public func effectiveMode(door: Door, at time: Date, state: SiteState) -> DoorMode {
        if state.fireAlarm && door.failMode == .safe { return .emergencyRelease }
        if let m = state.doorModes[door.id], m != .normal { return m }
        if let unlock = door.unlockSchedule, scheduleActive(unlock, time) {
            if !door.firstPersonIn || state.firstPersonArrived[door.id] == LocalTime(time, policy.timeZone).date { return .unlocked }
        }
        return .normal
    }

    /// The factors a door needs now: its schedule's override, else its own; with the camera
    /// faulted and `camera_fallback: badge`, a badge instead of any face requirement.
    public func factors(for door: Door, at time: Date, cameraFault: Bool = false) -> FactorRequirement {
        let normal = door.factorSchedule.first { scheduleActive($0.schedule, time) }?.factors ?? door.factors
        guard cameraFault, door.cameraFallback == .badge, normal != .badge else { return normal }
        return .badge
    }

    /// Liveness at a door now: its schedule's override, else its own, else that of the zone
    /// it leads into (or the nearest enclosing zone that sets one), else off.
    public func liveness(for door: Door, at time: Date) -> LivenessRequirement {
        door.livenessSchedule.first { scheduleActive($0.schedule, time) }?.liveness ?? standingLiveness(door)
    }

    /// Whether liveness can be required at this door at some time (for loading the models).
    public func mayRequireLiveness(_ door: Door) -> Bool {
        door.livenessSchedule.contains { $0.liveness == .required } || standingLiveness(door) == .required
    }

    /// Liveness outside any schedule override: the door's own, else its zones', else off.
    private func standingLiveness(_ door: Door) -> LivenessRequirement {
        door.liveness ?? policy.lineage(of: door.into).lazy.compactMap { self.policy.zones[$0]?.liveness }.first ?? .off
    }

    public func scheduleActive(_ id: String, _ time: Date) -> Bool {
        policy.schedules[id]?.isActive(at: time, in: policy.timeZone, calendars: policy.holidays) ?? false
    }

    /// Whether a grant zone covers a target zone: the same zone, or a sub-zone no more
    /// sensitive than it.
    public func covers(grantZone: String, zone: String) -> Bool {
        guard let g = policy.zones[grantZone], let z = policy.zones[zone] else { return false }
        return policy.lineage(of: zone).contains(grantZone) && z.sensitivity <= g.sensitivity
    }

    struct Coverage { var grant: Grant?; var reason: Reason; var note: String }

    func grantCoverage(person: PersonFacts, zone: String, at time: Date) -> Coverage {
        let mine = policy.grants.filter {
            switch $0.subject {
            case .person(let id): return id == person.id
            case .group(let g): return person.groups.contains(g)
            }
        }.filter { covers(grantZone: $0.zone, zone: zone) }
        if mine.isEmpty { return Coverage(grant: nil, reason: .noGrant, note: "no grant covers zone \(zone) for this person or their groups") }
        let live = mine.filter { $0.until.map { time < $0 } ?? true }
        if live.isEmpty { return Coverage(grant: nil, reason: .expired, note: "every grant covering \(zone) has expired (\(mine.map(\.id).joined(separator: ", ")))") }
        if let g = live.first(where: { $0.schedule.map { scheduleActive($0, time) } ?? true }) {
            return Coverage(grant: g, reason: .noGrant, note: "")
        }
        return Coverage(grant: nil, reason: .outsideSchedule,
                        note: "grants cover \(zone) only during \(Set(live.compactMap(\.schedule)).sorted().joined(separator: ", "))")
    }
}
