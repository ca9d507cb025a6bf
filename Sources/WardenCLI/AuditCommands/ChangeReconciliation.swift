import Audit
import Foundation
import GRDB
import Storage
import WardenCore

/// Checks the identity database against the audit log: every change recorded in the
/// database names the audit row that records it, and every person, badge, template, grant
/// and group membership comes from such a change. `warden audit verify` and `warden run`'s
/// start-up report what it finds.
struct ChangeReconciliation: Codable {
    /// Rows that no audit event accounts for: each a failure of the audit promise.
    var unaccounted: [String] = []
    /// Audit events for changes the database does not hold (rolled back after they were
    /// logged by a process that was killed at that instant, or deleted since).
    var orphanedEvents: [String] = []
    /// Changes made before changes were linked to their events (not checkable).
    var legacyChanges = 0
    /// Changes whose events were lost in a discontinuity an operator acknowledged.
    var acknowledgedLost = 0
    var checkedChanges = 0

    var ok: Bool { unaccounted.isEmpty }

    static func run(db: WardenDatabase, audit: AuditStore) throws -> ChangeReconciliation {
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

        // 2. Each row that gives access comes from a recorded change.
        func words(_ c: AdminChange) -> Set<Substring> { Set(c.detail.split(separator: " ")) }
        let byAction = Dictionary(grouping: changes, by: \.action)
        func has(_ action: String, subject: String? = nil, _ test: (AdminChange) -> Bool = { _ in true }) -> Bool {
            (byAction[action] ?? []).contains { (subject == nil || $0.subject == subject) && test($0) }
        }
        for p in try db.people.list() where !has("person.add", subject: "person:\(p.id!)") {
            r.unaccounted.append("person #\(p.id!) (\(DisplayText.escapingControls(p.displayName))) was added without a recorded change")
        }
        for b in try db.badges.list() where !has("badge.issue", subject: "person:\(b.personId)", {
            words($0).contains("badge_id=\(b.id!)") || $0.detail.contains("badge=\(b.credentialText) format=\(b.format)")
        }) {
            r.unaccounted.append("badge #\(b.id!) (\(b.credentialText)) of person #\(b.personId) was issued without a recorded change")
        }
        let templates = try db.writer.read { try FaceTemplate.fetchAll($0) }
        for t in templates where !has("template.enroll", subject: "person:\(t.personId)", { words($0).contains("template=\(t.id!)") }) {
            r.unaccounted.append("template #\(t.id!) of person #\(t.personId) was stored without a recorded enrollment")
        }
        for g in try db.access.grants() where !has("grant.add", { words($0).contains("grant=\(g.id!)") }) {
            r.unaccounted.append("grant #\(g.id!) (zone \(g.zone)) was made without a recorded change")
        }
        let memberships = try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT m.personId AS p, g.name AS g FROM groupMembership m JOIN personGroup g ON g.id = m.personGroupId")
        }
        for m in memberships {
            let person: Int64 = m["p"], group: String = m["g"]
            if !has("group.add_member", subject: "person:\(person)", { $0.detail == "group=\(group)" || $0.detail.hasPrefix("group=\(group) ") }) {
                r.unaccounted.append("person #\(person) was put in group \(DisplayText.escapingControls(group)) without a recorded change")
            }
        }
        return r
    }
}

