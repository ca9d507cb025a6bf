import FleetProtocol
import FleetServer
import Foundation
import Hummingbird
import Policy
import WardenCore

/// Access: the policy's zones, doors and schedules as published; the server's grants; and
/// "explain", the same engine the doors run answering for one person, door and time.
extension ConsoleRoutes {
    func installAccess(_ group: RouterGroup<FleetRequestContext>) {
        group.get("access") { req, _ in
            try await page(req, .read) { s in
                let site = try await store.siteView()
                let policy = try Self.loadPolicy(site)
                let q = FormFields.query(req)
                var values: [String: Any] = ["navAccess": true]
                var names: [Int64: String] = [:]
                for p in try await store.listPeople() { names[p.id] = p.displayName }
                if let version = site.policy?.version { values["policyVersion"] = String(version) }
                if let policy {
                    values["site"] = policy.name; values["timeZone"] = policy.timeZone.identifier
                    values["zones"] = policy.zones.values.sorted { $0.id < $1.id }.map { ["id": $0.id, "name": $0.name == $0.id ? "" : $0.name, "parent": $0.parent ?? ""] }
                    let chosen = q.get("door")
                    values["doors"] = policy.doors.values.sorted { $0.id < $1.id }.map {
                        ["id": $0.id, "into": $0.into, "from": $0.from ?? "", "factors": $0.factors.rawValue, "selected": $0.id == chosen] as [String: Any]
                    }
                    values["schedules"] = policy.schedules.values.sorted { $0.id < $1.id }.map { ["id": $0.id, "windows": Self.describe($0)] }
                }
                values["grants"] = site.grants.map { g in
                    ["id": String(g.id), "who": g.personID.map { "#\($0) \(names[$0] ?? "?")" } ?? "group \(g.groupName ?? "?")", "zone": g.zone,
                     "schedule": g.schedule ?? "always", "until": g.until.map { ConsoleTime.minute($0) } ?? "", "by": g.createdBy]
                }
                values["groupNames"] = Array(Set(site.groups.map(\.name)).union(policy?.groups.keys.map { $0 } ?? [])).sorted()
                if let person = q.get("person"), !person.isEmpty, let door = q.get("door") {
                    values["explainPerson"] = person
                    values["explainAt"] = q.get("at") ?? ""
                    values["withBadge"] = q.get("badge") == "1"; values["withFace"] = q.get("face") == "1"
                    guard let policy else { throw CentralError.invalid("no policy is published, so nothing can be explained") }
                    values["explained"] = try await explain(person: person, door: door, at: q.get("at"), badge: q.get("badge") == "1", face: q.get("face") == "1",
                                                            policy: policy, site: site)
                } else {
                    values["withBadge"] = true; values["withFace"] = true
                }
                return await show("access", values, session: s, title: "Access")
            }
        }
        group.post("access/grants") { req, ctx in
            try await change(req, ctx, .grant, back: "/console/access") { s, form in
                guard let zone = form.text("zone") else { throw CentralError.invalid("which zone?") }
                let group = form.text("group"), personRef = form.text("person")
                guard (group == nil) != (personRef == nil) else { throw CentralError.invalid("grant to a person or to a group (one of the two)") }
                var personID: Int64? = nil
                if let personRef { personID = try await store.findPerson(personRef).id }
                // A grant naming a zone or schedule the policy lacks would be ignored by every
                // door: refused here, where the operator can correct it.
                try await server.checkGrantAgainstPolicy(zone: zone, schedule: form.text("schedule"))
                let g = try await store.addGrant(personID: personID, group: group, zone: zone, schedule: form.text("schedule"),
                                                 until: try ConsoleTime.parse(form.text("until"), field: "until"), by: s.op.asOperator, now: now)
                return ("/console/access", "Grant #\(g.id) made: \(personRef.map { "person \($0)" } ?? "group \(group!)") into \(zone)\(g.schedule.map { " on \($0)" } ?? "").")
            }
        }
        group.post("access/grants/:id/revoke") { req, ctx in
            try await change(req, ctx, .grant, back: "/console/access") { s, _ in
                guard let id = ctx.parameters.get("id").flatMap({ Int64($0) }) else { throw CentralError.notFound("no such grant") }
                try await store.revokeGrant(id, by: s.op.asOperator, now: now)
                return ("/console/access", "Grant #\(id) revoked.")
            }
        }
    }

    /// The published policy with the server's grants, as the doors decide with; nil when none
    /// is published.
    static func loadPolicy(_ site: AdminSiteView) throws -> SitePolicy? {
        guard let published = site.policy else { return nil }
        do { return try PolicyLoader().load(sources: published.files.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) } catch {
            throw CentralError.invalid("the published policy (version \(published.version)) does not load: \(error)")
        }
    }

    func explain(person ref: String, door: String, at: String?, badge: Bool, face: Bool, policy files: SitePolicy, site: AdminSiteView) async throws -> [String: Any] {
        let p = try await store.findPerson(ref)
        let grants = site.grants.map { g in
            Grant(stored: g.id, personID: g.personID, groupName: g.groupName, zone: g.zone, schedule: g.schedule, until: g.until)
        }
        var ignored: [String] = []
        let policy = files.adding(grants, warn: { ignored.append($0) })
        var when = now
        if let at, !at.isEmpty {
            guard let d = SiteLocalTime.parse(at, in: policy.timeZone) else { throw CentralError.invalid("'\(at)' is not a time (YYYY-MM-DD HH:MM, site time)") }
            when = d
        }
        var ok = Set<Factor>()
        if badge { ok.insert(.badge) }
        if face { ok.insert(.face) }
        let groups = Set(site.groups.filter { $0.members.contains(p.id) }.map(\.name))
        let facts = PersonFacts(id: p.id, name: p.displayName, status: PersonStatus(stored: p.status), groups: groups, validFrom: p.validFrom, validUntil: p.validUntil)
        let d = PolicyEngine(policy: policy).decide(AccessRequest(door: door, time: when, person: facts, badge: badge ? .valid : .none, succeeded: ok,
                                                                  liveness: face ? .live : .notChecked), state: SiteState.everyDoorShut(policy))
        return ["verdict": d.allow ? "ALLOW" : "DENY", "verdictClass": d.allow ? "allow" : "deny", "who": "#\(p.id) \(p.displayName)", "door": door,
                "when": SiteLocalTime.format(when, in: policy.timeZone) + " (\(policy.timeZone.identifier))", "rule": d.rule, "action": d.action.summary,
                "reasonsText": d.reasons.isEmpty ? "" : d.reasons.map(\.plainWords).joined(separator: "; ") + ".", "steps": d.explanation + ignored]
    }

    static func describe(_ s: Schedule) -> String {
        func hm(_ m: Int) -> String { String(format: "%02d:%02d", m / 60, m % 60) }
        let names = [1: "Sun", 2: "Mon", 3: "Tue", 4: "Wed", 5: "Thu", 6: "Fri", 7: "Sat"]
        var parts = s.windows.map { w in w.days.sorted().map { names[$0.rawValue] ?? "?" }.joined(separator: ",") + " " + hm(w.from) + "-" + hm(w.to) }
        if !s.holidays.isEmpty { parts.append("closed on " + s.holidays.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}
