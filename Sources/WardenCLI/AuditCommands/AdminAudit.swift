import Audit
import Foundation
import WardenCore

extension GlobalOptions {
    func openAudit() throws -> AuditStore {
        do {
            try wardenHome.create()
            return try AuditStore(home: wardenHome.path)
        } catch { throw CLIError("\(error)") }
    }

    /// Records an administrative change in the audit log, synchronously: the command does
    /// not report success until the event is on disk. A failure is reported loudly, since
    /// the change itself has already been made.
    func recordAdmin(_ type: String, by op: Operator, subject: String, detail: [String: String] = [:]) {
        do {
            try openAudit().append([AuditEvent.admin(type, operator: op.name, subject: subject, detail: detail)])
        } catch {
            Output.error("the change was made but could not be written to the audit log: \(error)")
        }
    }
}

enum WardenCoreOperator {
    static func resolve(_ explicit: String?) -> String { Operator.resolve(explicit: explicit).name }
}
