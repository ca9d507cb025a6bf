import Audit
import Capture
import DoorIO
import Foundation
import Integrations
import Policy
import WardenCore

/// One door's record: each thing that happens there becomes an audit event and a timeline
/// line, worded here and nowhere else. The door decides; this says what it decided.
struct DoorLog {
    let door: String
    let camera: String?
    let events: any DoorEventSink
    let access: AccessDesk
    let clock: any WardenClock

    private var now: Date { clock.now }

    func record(_ kind: AuditEvent.Kind, _ type: String, zone: String? = nil, reader: String? = nil, camera: String? = nil,
                detail: [String: String]? = nil, line: String?, severity: TimelineSeverity = .info) {
        events.record(AuditEvent(at: now, kind: kind, type: type, door: door, zone: zone, reader: reader, camera: camera, detail: detail,
                                 siteTimeZone: access.timeZone))
        if let line { events.timeline(door, line, severity: severity) }
    }

    func line(_ text: String, severity: TimelineSeverity = .info) { events.timeline(door, text, severity: severity) }

    // MARK: Hardware

    func doorEvent(_ e: DoorEvent, _ detail: String?) {
        record(.door, "door.\(e.rawValue)", zone: access.door(door)?.into, detail: detail.map { ["detail": $0] }, line: Self.describe(e, detail),
               severity: Self.severity(e, detail))
    }

    func readerRejected(reason: String, bits: Int) {
        record(.system, "reader.rejected", reader: door, detail: ["reason": reason, "bits": String(bits)], line: "reader: frame rejected (\(reason))", severity: .notice)
    }

    func hardwareFault(_ why: String, reader: String? = nil) {
        record(.system, "system.hardware_fault", reader: reader, detail: ["reason": why], line: "HARDWARE FAULT: \(why)", severity: .alarm)
    }

    /// A networked reader's state: each change is audited, and the ones a guard must act on
    /// (offline, Secure Channel refused, power) are alarms.
    func reader(_ input: ReaderInput, label: String?) {
        func note(_ type: String, _ detail: [String: String], _ line: String, _ severity: TimelineSeverity = .info) {
            record(.system, type, reader: label, detail: detail.isEmpty ? nil : detail, line: line, severity: severity)
        }
        switch input {
        case .card, .tamper: break  // the driver turns these into badges and door alarms
        case .keypad(let keys):
            // The keys are a PIN in waiting: never written anywhere, only counted.
            note("reader.keypad", ["keys": String(keys.count)], "keypad: \(counted(keys.count, "key")) (no PIN factor at this door)")
        case .power(let ok):
            note(ok ? "reader.power_restored" : "reader.power_failed", [:], ok ? "reader power restored" : "ALARM: reader reports a power failure", ok ? .info : .alarm)
        case .online(let secure):
            note("reader.online", ["secure_channel": secure ? "active" : "off"], "reader online" + (secure ? " (Secure Channel)" : " WITHOUT Secure Channel"), secure ? .info : .warning)
        case .offline(let reason):
            note("reader.offline", ["reason": reason], "ALARM: reader offline: \(reason); badges at this door cannot be read", .alarm)
        case .secureChannelRefused(let reason):
            note("reader.secure_channel_refused", ["reason": reason], "ALARM: reader refused: \(reason)", .alarm)
        case .keyChanged(let ok, let detail):
            note(ok ? "reader.key_changed" : "reader.key_change_failed", ["detail": detail], ok ? "reader key changed" : "reader key NOT changed: \(detail)", ok ? .info : .warning)
        case .fault(let why):
            note("system.hardware_fault", ["reason": why], "HARDWARE FAULT: \(why)", .alarm)
        }
    }

    /// A forced or held door, a tamper and an emergency release are alarms; the warning
    /// before held-open and a refused exit press are worth a look.
    static func severity(_ e: DoorEvent, _ detail: String?) -> TimelineSeverity {
        switch e {
        case .heldOpen, .forcedOpen, .tamper, .emergencyRelease: return .alarm
        case .heldOpenPrealarm: return .warning
        case .requestToExit where detail?.hasPrefix("refused") == true: return .notice
        default: return .info
        }
    }

    static func describe(_ e: DoorEvent, _ detail: String?) -> String {
        switch e {
        case .released: return "lock released" + (detail == "rex" ? " (exit button)" : "")
        case .opened: return "door opened"
        case .closed: return "door closed"
        case .relocked: return "lock relocked"
        case .grantedNotOpened: return "granted, but nobody opened the door"
        case .requestToExit: return "exit button pressed" + (detail.map { " (\($0))" } ?? "")
        case .heldOpenPrealarm: return "WARNING: door still open (\(detail ?? ""))"
        case .heldOpen: return "ALARM: door held open (\(detail ?? ""))"
        case .heldOpenCleared: return "held-open alarm cleared"
        case .forcedOpen: return "ALARM: door forced open (\(detail ?? ""))"
        case .forcedOpenCleared: return "forced-open alarm cleared"
        case .tamper: return "ALARM: tamper"
        case .tamperCleared: return "tamper cleared"
        case .modeChanged: return "door mode: \(detail ?? "")"
        case .emergencyRelease: return "EMERGENCY RELEASE"
        }
    }

    // MARK: Camera and recognition

    func cameraFault(_ fault: CameraHealth.Fault?, fallback: String) {
        if let fault {
            record(.system, "system.camera_fault", camera: camera, detail: ["fault": fault.rawValue, "fallback": fallback],
                   line: "CAMERA FAULT: \(fault.rawValue.replacingOccurrences(of: "_", with: " ")); \(fallback) until it recovers", severity: .alarm)
        } else {
            record(.system, "system.camera_recovered", camera: camera, line: "camera recovered")
        }
    }

    func inferenceLag(_ lag: TimeInterval, workable: TimeInterval, face: FaceSettings) {
        let hint = "use smaller frames (camera width/height), a higher upsample only where faces are small, fewer cameras per board, or a longer badge_window"
        record(.system, "system.inference_lag", camera: camera,
               detail: ["seconds_per_frame": String(format: "%.1f", lag), "workable_s": String(format: "%.1f", workable),
                        "frames_required": String(face.framesRequired), "badge_window_s": String(format: "%.1f", face.badgeWindow), "hint": hint],
               line: String(format: "SLOW: %.1f s from frame to result, more than the %.1f s these settings work with (%d frames in a %.0f s badge window); decisions come late. Hint: %@",
                            lag, workable, face.framesRequired, face.badgeWindow, hint), severity: .warning)
    }

    func lockout(_ settings: LockoutSettings) {
        record(.system, "system.lockout", reader: door,
               detail: ["attempts": String(settings.attempts), "window_s": String(Int(settings.window)), "duration_s": String(Int(settings.duration))],
               line: "LOCKOUT: \(settings.attempts) failed attempts in \(Int(settings.window))s; reader refuses for \(Int(settings.duration))s", severity: .warning)
    }

    func storageError(_ error: Error) {
        record(.system, "system.storage_error", detail: ["reason": "\(error)"], line: "ALARM storage error reading the identity database: \(error)", severity: .alarm)
    }

    // MARK: Decisions

    /// Why a track named nobody, in words.
    static func missReason(_ ev: TrackEvidence) -> String {
        guard ev.leader == nil else {
            return "the frames did not agree on one person (\(ev.namedFrames) of \(ev.identified.count) named someone)"
        }
        switch ev.lastMiss {
        case .tooFar: return "no enrolled face is close enough"
        case .ambiguous: return "two enrolled people are too alike to tell apart"
        case .inactive: return "looks like someone who is suspended or outside their dates"
        case .emptyGallery: return "nobody is enrolled"
        case nil: return "not recognized"
        }
    }


    /// What was decided at the door, in the log and on the timeline.
    struct Outcome {
        var person: PersonAtDoor?
        var badge: AccessRequest.BadgeFact
        var credential: String?
        var faceSucceeded: Bool
        var faceEvidence: FaceEvidence?
        var decision: Decision?
        var reasons: [String]
        var note: String?
        var storageFailed: Bool
        var pending: Bool
        var allow: Bool { decision?.allow ?? false }
    }

    func decision(_ o: Outcome) {
        var factors: [FactorResult] = []
        if o.badge != .none { factors.append(FactorResult(factor: "badge", ok: o.badge == .valid, detail: o.credential)) }
        if let e = o.faceEvidence { factors.append(FactorResult(factor: "face", ok: o.faceSucceeded, detail: "\(e.frames) frames")) }
        let person = o.person?.person
        events.record(AuditEvent(at: now, kind: .decision, type: o.allow ? "access.granted" : "access.denied", door: door, zone: access.door(door)?.into,
                                 reader: door, camera: camera, badge: o.credential, personID: person?.id, personName: person?.displayName,
                                 result: o.allow ? "granted" : "denied", factors: factors, face: o.faceEvidence,
                                 rule: o.decision?.rule ?? (o.storageFailed ? "storage_error" : "lockout"),
                                 reasons: o.reasons, doorAction: o.decision?.action.summary ?? "stayed locked",
                                 detail: o.note.map { ["note": $0] }, siteTimeZone: access.timeZone))
        let who = person.map { "#\($0.id!) \($0.displayName)" } ?? "unknown person"
        let how = [o.credential.map { "badge \($0)" }, o.faceEvidence.map { e in
            (e.distance.map { String(format: "face %.3f/%.3f over %d frames", $0, e.threshold, e.frames) } ?? "face over \(e.frames) frames")
                + (e.liveness.map { l in l.scores.isEmpty ? ", liveness \(l.verdict)" : String(format: ", liveness %@ %.3f/%.3f over %d frames", l.verdict,
                                                                                        l.scores.reduce(0, +) / Double(l.scores.count), l.threshold, l.scores.count) } ?? "") }]
            .compactMap { $0 }.joined(separator: " + ")
        let verdict = o.allow ? "GRANTED" : (o.pending ? "WAITING" : "DENIED")
        line("\(verdict) \(who)\(how.isEmpty ? "" : " [\(how)]")" + (o.reasons.isEmpty ? "" : ": " + o.reasons.joined(separator: ", "))
             + (o.note.map { " (\($0))" } ?? "") + (o.decision.map { " (rule \($0.rule))" } ?? ""), severity: o.allow || o.pending ? .info : .notice)
    }

    // MARK: Remote commands

    func remote(_ command: RemoteCommand, decision d: Decision) {
        let origin = ["channel": "mqtt", "topic": command.topic, "requested_by": command.requestedBy]
        let who = "mqtt:\(command.requestedBy)"
        let why = d.explanation.last ?? ""
        let zone = access.door(door)?.into
        switch command.action {
        case .release:
            events.record(AuditEvent(at: now, kind: .decision, type: d.allow ? "access.granted" : "access.denied", door: door, zone: zone,
                                     result: d.allow ? "granted" : "denied",
                                     factors: [FactorResult(factor: Factor.remote.rawValue, ok: d.allow, detail: command.requestedBy)],
                                     rule: d.rule, reasons: d.reasons.map(\.rawValue), doorAction: d.action.summary, operator: who,
                                     detail: origin.merging(["note": why]) { a, _ in a }, siteTimeZone: access.timeZone))
            line("\(d.allow ? "GRANTED" : "DENIED") remote release requested by \(command.requestedBy) over MQTT: "
                 + d.reasons.map(\.rawValue).joined(separator: ", ") + " (rule \(d.rule))", severity: d.allow ? .info : .notice)
        case .lockdown, .clearLockdown:
            let type = !d.allow ? "admin.remote_command_refused" : command.action == .lockdown ? "admin.door_lockdown" : "admin.door_lockdown_cleared"
            events.record(AuditEvent(at: now, kind: .admin, type: type, door: door, zone: zone, result: d.allow ? "done" : "refused",
                                     rule: d.rule, reasons: d.reasons.map(\.rawValue), operator: who,
                                     detail: origin.merging(["command": command.action.rawValue, "note": why]) { a, _ in a }, siteTimeZone: access.timeZone))
            line((d.allow ? (command.action == .lockdown ? "LOCKDOWN" : "lockdown cleared") : "REFUSED remote \(command.action.rawValue)")
                 + " (requested by \(command.requestedBy) over MQTT): \(why)", severity: !d.allow ? .notice : command.action == .lockdown ? .warning : .info)
        }
    }
}
