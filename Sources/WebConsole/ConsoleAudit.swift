import Audit
import FleetProtocol
import FleetServer
import Foundation
import Hummingbird
import WardenCore

/// Audit (filters, export, chain verification) and Controllers (status, join tokens, revoke).
extension ConsoleRoutes {
    static let auditShown = 500

    func installAudit(_ group: RouterGroup<FleetRequestContext>) {
        group.get("audit") { req, _ in
            try await page(req, .read) { s in
                let (query, raw) = try Self.auditQuery(req)
                var shown = query
                shown.newestFirst = true; shown.limit = Self.auditShown + 1
                var rows: [[String: Any]] = []
                try await store.forEachEvent(shown) { controller, row in
                    guard case .success(let e) = AuditChain.checked(row) else {
                        rows.append(["at": "", "controller": controller, "seq": String(row.seq), "type": "(row fails its hash check)", "door": "", "person": "", "result": "", "detail": ""])
                        return
                    }
                    rows.append(Self.values(e, controller: controller))
                }
                let capped = rows.count > Self.auditShown
                var values: [String: Any] = ["navAudit": true, "rows": Array(rows.prefix(Self.auditShown)), "count": counted(min(rows.count, Self.auditShown), "event"), "capped": capped,
                                             "query": raw.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.sorted().joined(separator: "&")]
                for (k, v) in raw { values[k] = v }
                values["controllers"] = try await store.controllers().map { ["name": $0.name, "selected": $0.name == query.controller] as [String: Any] }
                if FormFields.query(req).get("verify") == "1" {
                    values["chains"] = try await store.verifyChains(now: now).map { c in
                        ["controller": c.controller, "rows": String(c.rows), "highWater": String(c.highWater), "lastSeen": ConsoleTime.minute(c.lastSeen),
                         "ok": c.problems.isEmpty, "status": c.problems.isEmpty ? "verified: every row present, linked and unaltered" : c.problems.joined(separator: "; ")] as [String: Any]
                    }
                    values["verified"] = true
                }
                return await show("audit", values, session: s, title: "Audit")
            }
        }
        group.get("audit/export") { req, _ in
            try await page(req, .read) { _ in
                let (query, _) = try Self.auditQuery(req)
                return try await server.auditExport(query, format: ExportFormat(rawValue: FormFields.query(req).get("format") ?? "csv") ?? .csv)
            }
        }
    }

    /// The filter from the page's query, and its fields as given (to fill the form again).
    static func auditQuery(_ req: Request) throws -> (AuditQuery, [String: String]) {
        var raw: [String: String] = [:]
        for k in ["from", "to", "controller", "door", "person", "type"] {
            if let v = FormFields.query(req).get(k)?.trimmingCharacters(in: .whitespaces), !v.isEmpty { raw[k] = v }
        }
        var person: Int64? = nil
        if let p = raw["person"] {
            guard let id = Int64(p.hasPrefix("#") ? String(p.dropFirst()) : p) else { throw CentralError.invalid("person '\(p)' is not a Warden id (#12)") }
            person = id
        }
        let q = AuditQuery(controller: raw["controller"], door: raw["door"], personID: person,
                           from: try ConsoleTime.parse(raw["from"], field: "from"), to: try ConsoleTime.parse(raw["to"], field: "to"), typePrefix: raw["type"])
        return (q, raw)
    }

    static func values(_ e: AuditEvent, controller: String) -> [String: Any] {
        var detail: [String] = []
        if let op = e.operator { detail.append("by \(op)") }
        if let r = e.reasons, !r.isEmpty { detail.append(r.joined(separator: ", ")) }
        for (k, v) in (e.detail ?? [:]).sorted(by: { $0.key < $1.key }) where !v.isEmpty { detail.append("\(k): \(v)") }
        return ["at": e.humanTime, "atUTC": AuditTime.utc(e.at), "controller": controller, "seq": String(e.seq), "type": e.type, "door": e.door ?? "",
                "person": e.personID.map { "#\($0)" + (e.personName.map { " \($0)" } ?? "") } ?? "", "result": e.result ?? "", "detail": detail.joined(separator: "; ")]
    }

    func installControllers(_ group: RouterGroup<FleetRequestContext>) {
        group.get("controllers") { req, _ in
            try await page(req, .read) { s in try await controllersPage(s, token: nil) }
        }
        group.post("controllers/token") { req, ctx in
            // The token is shown once, on the page this answers with, never kept for a redirect.
            if let refused = Self.crossSite(req) { return refused }
            guard let s = try await session(req) else { return Self.redirect("/console/login") }
            let form = FormFields(String(buffer: try await req.body.collect(upTo: WebConsole.maximumForm)))
            guard ConstantTime.equal(form["csrf"] ?? "", s.csrfToken) else { return csrfRefused(s) }
            guard s.op.role.may(.manageFleet) else { return forbidden(s) }
            do {
                let name = form.text("name") ?? ""
                let minutes = Double(form.text("minutes") ?? "60") ?? 60
                let (token, expires) = try await store.createJoinToken(controller: name, lifetime: minutes * 60, caFingerprint: try server.ca.fingerprint, by: s.op.asOperator, now: now)
                let host = req.head.authority ?? "\(server.serverNames.first ?? "SERVER")"
                return try await controllersPage(s, token: ["controller": name, "value": token.description, "expires": ConsoleTime.minute(expires), "url": "https://\(host)"])
            } catch let e as CentralError {
                await console.flashes.put(Notice(text: e.description, error: true), for: s.key)
                return Self.redirect("/console/controllers")
            }
        }
        group.post("controllers/revoke") { req, ctx in
            try await change(req, ctx, .manageFleet, back: "/console/controllers") { s, form in
                guard form["confirm"] == "yes", let name = form.text("name") else { throw CentralError.invalid("tick the box to confirm the revocation") }
                try await store.revokeController(name, by: s.op.asOperator, now: now)
                return ("/console/controllers", "Controller '\(name)' revoked: its certificate is refused from its next request; its events stay in the log.")
            }
        }
    }

    func controllersPage(_ s: ConsoleSession, token: [String: String]?) async throws -> Response {
        let rows = try await store.controllers()
        let canManage = s.op.role.may(.manageFleet)
        var values: [String: Any] = ["navControllers": true, "revision": String(try await store.currentRevision())]
        values["controllers"] = rows.map { c in
            let silent = ConsoleFeed.isSilent(c, now: now)
            return ["name": c.name, "statusText": c.status == "active" ? (silent ? (c.lastSeen == nil ? "never heard from" : "offline") : "online") : c.status, "health": c.status != "active" || silent ? "bad" : "ok",
                    "lastSeen": ConsoleTime.minute(c.lastSeen), "version": c.wardenVersion ?? "", "applied": String(c.appliedRevision), "buffered": String(c.bufferedEvents),
                    "doors": c.doors.map { "\($0.id): \($0.state)" }.joined(separator: ", "), "revocable": canManage && c.status == "active"] as [String: Any]
        }
        if let token { values["token"] = token }
        return await show("controllers", values, session: s, title: "Controllers")
    }
}
