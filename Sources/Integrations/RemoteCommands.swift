import Foundation
import Policy

/// A remote command that passed the broker-side checks (enabled, not retained, a listed
/// door's topic, a payload Warden understands), on its way to the policy engine.
public struct RemoteCommand: Sendable, Equatable {
    public var door: String
    public var action: RemoteRequest.Action
    /// Who the sender says it is: the payload's `requested_by`, else "unnamed client".
    public var requestedBy: String
    public var topic: String
    public init(door: String, action: RemoteRequest.Action, requestedBy: String, topic: String) {
        self.door = door; self.action = action; self.requestedBy = requestedBy; self.topic = topic
    }
}

/// What a command payload may say. Home Assistant's lock sends its plain payloads
/// (`UNLOCK`, `OPEN`; `LOCK` has no meaning for a strike that relocks by itself); other
/// clients send JSON, which can also name who asked:
///
///     {"command": "release" | "lockdown" | "clear_lockdown", "requested_by": "ana@ha"}
public enum RemoteCommandPayload {
    /// Longer payloads are refused unread.
    public static let maximumBytes = 1024

    public static func parse(_ payload: [UInt8]) -> Result<(action: RemoteRequest.Action, requestedBy: String?), Refusal> {
        guard payload.count <= maximumBytes else { return .failure(Refusal("the payload is over \(maximumBytes) bytes")) }
        guard let text = String(validating: payload, as: UTF8.self)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            return .failure(Refusal("the payload is empty or not UTF-8"))
        }
        if text.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                return .failure(Refusal("the payload is not a JSON object"))
            }
            let unknown = Set(object.keys).subtracting(["command", "requested_by"])
            guard unknown.isEmpty else { return .failure(Refusal("unknown field(s) \(unknown.sorted().joined(separator: ", ")); expected command and requested_by")) }
            guard let name = object["command"] as? String, let action = RemoteRequest.Action(rawValue: name) else {
                return .failure(Refusal("command must be one of \(RemoteRequest.Action.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            var by: String? = nil
            if let v = object["requested_by"] {
                guard let s = v as? String, !s.isEmpty, s.utf8.count <= 64 else { return .failure(Refusal("requested_by must be text of 1 to 64 bytes")) }
                by = printable(s)
            }
            return .success((action, by))
        }
        switch text.uppercased() {
        case "UNLOCK", "OPEN", "RELEASE": return .success((.release, nil))
        case "LOCKDOWN": return .success((.lockdown, nil))
        case "CLEAR_LOCKDOWN", "NORMAL": return .success((.clearLockdown, nil))
        case "LOCK": return .failure(Refusal("LOCK does nothing here: the strike relocks by itself after a release; send LOCKDOWN to lock the door down"))
        default:
            return .failure(Refusal("unrecognised command '\(printable(String(text.prefix(32))))'; expected UNLOCK, OPEN, LOCKDOWN, CLEAR_LOCKDOWN or a JSON object"))
        }
    }

    /// Control characters and anything outside printable ASCII as `?`: what lands in the
    /// audit log and the console is never a terminal escape.
    public static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
    }

    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }
}
