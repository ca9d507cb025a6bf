import CommandSupport
import Audit
import Foundation
import Storage
import WardenCore

extension CommandOptions {
    /// The audit log in the data directory, for appending. A log that is not the one Warden
    /// wrote (see AuditStore.headProblem) opens, but refuses every append.
    ///
    /// With --server or WARDEN_SERVER set, a command that reads or writes this home's log
    /// and has no server form is refused (`refuseWithoutServerForm`). `ownHome`: callers
    /// that only ever concern this home (`run`, `fleet sync`), or that already chose it.
    package func openAudit(readOnly: Bool = false, ownHome: Bool = false,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AuditStore {
        if !ownHome { try refuseWithoutServerForm(environment: environment) }
        do {
            if !readOnly { try wardenHome.create() }
            return try AuditStore(home: wardenHome.path, readOnly: readOnly)
        } catch { throw CLIError(DiskSpace.explain("\(error)", home: wardenHome.path)) }
    }

    /// Records an administrative change that is not a database change (calibration, the
    /// audit log's own maintenance), synchronously: the command reports success only once
    /// the event is on disk, and throws, making no change, when it cannot be written. Call
    /// it before making the change; database changes are audited by ChangeJournal instead,
    /// inside their transaction.
    package func recordAdmin(_ type: String, by op: Operator, subject: String, detail: [String: String] = [:]) throws {
        do {
            // The command chose this home before it got here (its server form returned first).
            try openAudit(ownHome: true).append([AuditEvent.admin(type, operator: op.name, subject: subject, detail: detail)])
        } catch {
            throw CLIError("refused: the change could not be written to the audit log, so nothing was changed (\(error))")
        }
    }
}

/// Writes each identity-database change's audit event, inside the change's transaction.
struct AuditedChanges: ChangeAuditor {
    let store: AuditStore

    /// Audit event types for the identity database's actions. Most are the action with its
    /// dot made an underscore; three keep the names logs have always used.
    static func eventType(for action: String) -> String {
        switch action {
        case "template.enroll": return "admin.enroll"
        case "grant.add": return "admin.grant"
        case "grant.revoke": return "admin.revoke"
        default: return "admin." + action.replacingOccurrences(of: ".", with: "_")
        }
    }

    func record(_ change: AdminChange, fields: [String: String]) throws -> Int64 {
        var detail = fields
        detail["change"] = String(change.id!)
        let written = try store.append([AuditEvent.admin(Self.eventType(for: change.action), operator: change.operator,
                                                         subject: change.subject, detail: detail, at: change.at)])
        return written[0].seq
    }

    func rolledBack(_ change: AdminChange, seq: Int64, because error: Error) {
        _ = try? store.append([AuditEvent.admin("admin.change_rolled_back", operator: change.operator, subject: change.subject,
                                                detail: ["change": String(change.id!), "logged_seq": String(seq), "reason": "\(error)"])])
    }
}
