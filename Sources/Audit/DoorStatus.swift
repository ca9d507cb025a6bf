import Foundation

/// What is known of one door from its audit events, folded in order: the one reading of a
/// door's state that integrations (MQTT, Home Assistant) and the server's live board share.
/// Pure: the same events give the same status.
public struct DoorStatus: Sendable, Equatable {
    /// The alarms a door raises and clears, by the name of its event (`door.held_open`,
    /// cleared by `door.held_open_cleared`).
    public enum Alarm: String, Sendable, CaseIterable { case heldOpen = "held_open", forcedOpen = "forced_open", tamper }

    public var released = false
    public var open: Bool?
    public var alarms: Set<String> = []
    public var cameraFault = false
    public var readerOffline = false
    public var outOfService = false

    public init() {}

    /// The door's state in one word, the most urgent first.
    public var state: String {
        if outOfService { return "out_of_service" }
        if alarms.contains(Alarm.forcedOpen.rawValue) { return "forced" }
        if alarms.contains(Alarm.heldOpen.rawValue) { return "held_open" }
        if open == true { return "open" }
        return released ? "released" : "locked"
    }

    /// Folds one event of this door; true when it is one that can change the status.
    @discardableResult
    public mutating func apply(_ e: AuditEvent) -> Bool {
        switch e.kind {
        case .door:
            switch e.type {
            case "door.released", "door.emergency_release": released = true
            case "door.relocked": released = false
            case "door.opened": open = true
            case "door.closed": open = false
            default:
                let name = e.type.hasPrefix("door.") ? String(e.type.dropFirst(5)) : e.type
                if let a = Alarm(rawValue: name) { alarms.insert(a.rawValue) } else if name.hasSuffix("_cleared"), let a = Alarm(rawValue: String(name.dropLast(8))) {
                    alarms.remove(a.rawValue)
                }
            }
            // A door that reports events works again.
            outOfService = false
            return true
        case .system:
            switch e.type {
            case "system.camera_fault": cameraFault = true
            case "system.camera_recovered", "system.camera_started": cameraFault = false
            case "system.door_unavailable": outOfService = true
            case "reader.offline": readerOffline = true
            case "reader.online": readerOffline = false
            default: return false
            }
            return true
        case .decision, .admin:
            return false
        }
    }
}
