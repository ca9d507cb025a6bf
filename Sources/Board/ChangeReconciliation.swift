import Audit
import Foundation
import GRDB
import Storage
import WardenCore

/// Checks the identity database against the audit log: every change recorded in the
/// database names the audit row that records it, and every person, badge, template, grant
/// and group membership comes from such a change. `warden audit verify` and `warden run`'s
/// start-up report what it finds.
public struct ChangeReconciliation: Codable {
    /// Rows that no audit event accounts for: each a failure of the audit promise.
    public var unaccounted: [String] = []
    /// Audit events for changes the database does not hold (rolled back after they were
    /// logged by a process that was killed at that instant, or deleted since).
    public var orphanedEvents: [String] = []
    /// Changes made before changes were linked to their events (not checkable).
    public var legacyChanges = 0
    /// Changes whose events were lost in a discontinuity an operator acknowledged.
    public var acknowledgedLost = 0
    public var checkedChanges = 0
    /// The database is a fleet controller's replica: its rows come from the fleet server's
    /// changes (recorded in the server's own chain), applied here as `fleet.apply`.
    public var fleetReplica = false

    public var ok: Bool { unaccounted.isEmpty }

    public static func run(db: WardenDatabase, audit: AuditStore) throws -> ChangeReconciliation {
        var r = ChangeReconciliation()
        let changes = try db.changes.all()
        r.checkedChanges = changes.count
        let anchor = try audit.anchorSeq()

        // Admin events in the log that name a change, and the rollbacks recorded.
        var changeAtSeq: [Int64: Int64] = [:]
        var rolledBack = Set<Int64>()
        // Rows an acknowledged discontinuity lost: (after, through], acknowledged at.
        var lost: [(ClosedRange<Int64>, Date)] = []
        try audit.forEachRow(where: AuditFilter(kind: .admin)) { row, e in
            if e.type == AuditStore.acknowledgementType, let head = e.detail?["head_seq"].flatMap(Int64.init),
               let last = e.detail?["log_last_seq"].flatMap(Int64.init), head > last {
                lost.append(((last + 1)...head, e.at))
            } else if e.type == "admin.change_rolled_back", let s = e.detail?["logged_seq"].flatMap(Int64.init) { rolledBack.insert(s) }
            else if let c = e.detail?["change"].flatMap(Int64.init) { changeAtSeq[row.seq] = c }
        }

        // 1. Each change names the event that records it.
        var linked = Set<Int64>()
        for c in changes {
            let what = "change #\(c.id!) (\(c.action) \(c.subject) by \(c.operator) at \(AuditTime.utc(c.at)))"
            switch c.auditSeq {
            case nil: r.unaccounted.append("\(what) has no audit event")
            case 0?: r.legacyChanges += 1
            case let s? where s <= anchor: linked.insert(s)  // pruned and archived
            case let s?:
                if changeAtSeq[s] == c.id { linked.insert(s) } else if lost.contains(where: { $0.0.contains(s) && c.at <= $0.1 }) {
                    r.acknowledgedLost += 1
                } else {
                    r.unaccounted.append("\(what) names audit row \(s), which does not record it")
                }
            }
        }
        for (seq, change) in changeAtSeq.sorted(by: { $0.key < $1.key }) where !linked.contains(seq) && !rolledBack.contains(seq) {
            r.orphanedEvents.append("audit row \(seq) records change #\(change), which the identity database does not hold")
        }

        // A replica's rows were made at the server, each by a change in the server's chain
        // (`audit verify --server`); here each batch applied is one recorded change.
        if changes.contains(where: { $0.action == "fleet.apply" }) { r.fleetReplica = true; return r }

        // 2. Each row that gives access comes from a recorded change. What the changes
        // created is indexed once, so each row is one lookup (a site has thousands of both).
        var created = Set<String>()
        for c in changes {
            let words = c.detail.split(separator: " ")
            func value(_ key: String) -> Substring? { words.first { $0.hasPrefix(key + "=") }?.dropFirst(key.count + 1) }
            switch c.action {
            case "person.add": created.insert(c.subject)
            case "badge.issue":
                if let id = value("badge_id") { created.insert("badge:\(id)") }
                // Before badge ids were recorded: the credential and format.
                if let badge = value("badge"), let format = value("format") { created.insert("\(c.subject) badge:\(badge):\(format)") }
            case "template.enroll": if let id = value("template") { created.insert("template:\(id)") }
            case "grant.add": if let id = value("grant") { created.insert("grant:\(id)") }
            // The group is the whole detail (one field), so a name with spaces stays whole.
            case "group.add_member": if c.detail.hasPrefix("group=") { created.insert("\(c.subject) group:\(c.detail.dropFirst(6))") }
            default: break
            }
        }
        for p in try db.people.list() where !created.contains("person:\(p.id!)") {
            r.unaccounted.append("person #\(p.id!) (\(DisplayText.escapingControls(p.displayName))) was added without a recorded change")
        }
        for b in try db.badges.list()
        where !created.contains("badge:\(b.id!)") && !created.contains("person:\(b.personId) badge:\(b.credentialText):\(b.format)") {
            r.unaccounted.append("badge #\(b.id!) (\(b.credentialText)) of person #\(b.personId) was issued without a recorded change")
        }
        let templates = try db.writer.read { try Row.fetchAll($0, sql: "SELECT id, personId FROM faceTemplate") }
        for t in templates where !created.contains("template:\(t["id"] as Int64)") {
            r.unaccounted.append("template #\(t["id"] as Int64) of person #\(t["personId"] as Int64) was stored without a recorded enrollment")
        }
        for g in try db.access.grants() where !created.contains("grant:\(g.id!)") {
            r.unaccounted.append("grant #\(g.id!) (zone \(g.zone)) was made without a recorded change")
        }
        let memberships = try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT m.personId AS p, g.name AS g FROM groupMembership m JOIN personGroup g ON g.id = m.personGroupId")
        }
        for m in memberships {
            let person: Int64 = m["p"], group: String = m["g"]
            if !created.contains("person:\(person) group:\(group)") {
                r.unaccounted.append("person #\(person) was put in group \(DisplayText.escapingControls(group)) without a recorded change")
            }
        }
        return r
    }
}

