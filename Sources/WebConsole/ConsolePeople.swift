import FaceKit
import FleetProtocol
import FleetServer
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore

/// People: search, add, a person's page (status, validity, badges, groups), enrollment from
/// a photo (never stored: only the template is kept, as with `warden enroll`).
extension ConsoleRoutes {
    static let peopleShown = 200

    func installPeople(_ group: RouterGroup<FleetRequestContext>) {
        group.get("people") { req, _ in
            try await page(req, .read) { s in
                let query = (FormFields.query(req).get("q") ?? "").trimmingCharacters(in: .whitespaces)
                var people = try await store.listPeople()
                if !query.isEmpty {
                    let q = query.lowercased(), id = Int64(query.hasPrefix("#") ? String(query.dropFirst()) : query)
                    people = people.filter { $0.id == id || $0.displayName.lowercased().contains(q) || ($0.externalID?.lowercased().contains(q) ?? false) }
                }
                return await show("people", [
                    "navPeople": true, "query": query, "people": people.prefix(Self.peopleShown).map(Self.values),
                    "more": people.count > Self.peopleShown, "shown": String(Self.peopleShown), "total": String(people.count),
                ], session: s, title: "People")
            }
        }
        group.post("people") { req, ctx in
            try await change(req, ctx, .enroll, back: "/console/people") { s, form in
                let p = try await store.addPerson(name: form["name"] ?? "", externalID: form.text("external_id"),
                                                  validFrom: try ConsoleTime.parse(form.text("valid_from"), field: "valid from"),
                                                  validUntil: try ConsoleTime.parse(form.text("valid_until"), field: "valid until"), by: s.op.asOperator, now: now)
                return ("/console/people/\(p.id)", "Added \(p.displayName) (#\(p.id)). Enroll a photo and issue a badge below.")
            }
        }
        group.get("people/:id") { req, ctx in
            try await page(req, .read) { s in
                let id = try Self.personID(ctx)
                let detail = try await store.personDetail("#\(id)")
                let site = try await store.siteView()
                let p = detail.person
                var values = Self.values(p)
                values["active"] = p.status == "active"
                values["validFrom"] = ConsoleTime.day(p.validFrom)
                values["validUntil"] = ConsoleTime.day(p.validUntil)
                values["templateCount"] = counted(detail.templates.count, "template")
                values["templates"] = detail.templates.map { ["source": $0.sourceName, "eyes": String(format: "%.0f", $0.interEyeDistance), "by": $0.createdBy] }
                values["enrollAvailable"] = server.enrollment != nil
                // Doors a capture can be sent to: those an active controller reports.
                let cameraDoors = try await store.controllers().filter { $0.status == "active" }
                    .flatMap { c in c.doors.map { ["door": $0.id, "controller": c.name] } }
                values["cameraDoors"] = cameraDoors
                values["hasCameraDoors"] = !cameraDoors.isEmpty
                values["badges"] = detail.badges.map { b in
                    ["format": b.format, "facility": String(b.facilityCode), "card": String(b.cardNumber), "status": b.status, "revocable": b.status == "active", "personID": String(p.id)] as [String: Any]
                }
                values["formats"] = BadgeFormat.allCases.map(\.rawValue)
                values["groups"] = site.groups.filter { $0.members.contains(p.id) }.map { ["name": $0.name, "personID": String(p.id)] }
                values["allGroups"] = site.groups.filter { !$0.members.contains(p.id) }.map(\.name)
                return await show("person", ["navPeople": true, "person": values], session: s, title: p.displayName)
            }
        }
        group.post("people/:id/status") { req, ctx in
            let id = try Self.personID(ctx)
            return try await change(req, ctx, .enroll, back: "/console/people/\(id)") { s, form in
                let active = form["active"] == "true"
                try await store.setPersonStatus(id, active: active, by: s.op.asOperator, now: now)
                return ("/console/people/\(id)", active ? "Activated: their badges and face open doors again." : "Suspended: no door opens for them until they are activated.")
            }
        }
        group.post("people/:id/validity") { req, ctx in
            let id = try Self.personID(ctx)
            return try await change(req, ctx, .enroll, back: "/console/people/\(id)") { s, form in
                let from = try ConsoleTime.parse(form.text("valid_from"), field: "valid from"), until = try ConsoleTime.parse(form.text("valid_until"), field: "valid until")
                try await store.setPersonValidity(id, from: from, until: until, by: s.op.asOperator, now: now)
                return ("/console/people/\(id)", "Validity set: \(ConsoleTime.validity(from: from, until: until)).")
            }
        }
        group.post("people/:id/badges") { req, ctx in
            let id = try Self.personID(ctx)
            return try await change(req, ctx, .enroll, back: "/console/people/\(id)") { s, form in
                let credential = try FleetHTTPServer.credential(AdminBadge(person: "#\(id)", credential: form["credential"] ?? "", format: form["format"] ?? ""))
                _ = try await store.issueBadge(credential, to: id, by: s.op.asOperator, now: now)
                return ("/console/people/\(id)", "Badge \(form["credential"] ?? "") issued.")
            }
        }
        group.post("people/:id/badges/revoke") { req, ctx in
            let id = try Self.personID(ctx)
            return try await change(req, ctx, .enroll, back: "/console/people/\(id)") { s, form in
                let credential = try FleetHTTPServer.credential(AdminBadge(person: nil, credential: form["credential"] ?? "", format: form["format"] ?? ""))
                _ = try await store.revokeBadge(credential, by: s.op.asOperator, now: now)
                return ("/console/people/\(id)", "Badge \(form["credential"] ?? "") revoked.")
            }
        }
        // Group membership decides what a group's grants reach, so it needs the grant role.
        group.post("people/:id/groups") { req, ctx in
            let id = try Self.personID(ctx)
            return try await change(req, ctx, .grant, back: "/console/people/\(id)") { s, form in
                guard let name = form.text("group") else { throw CentralError.invalid("which group?") }
                if form["add"] == "true" { try await store.addMember(id, to: name, by: s.op.asOperator, now: now) } else {
                    try await store.removeMember(id, from: name, by: s.op.asOperator, now: now)
                }
                return ("/console/people/\(id)", form["add"] == "true" ? "Added to \(name)." : "Removed from \(name).")
            }
        }
        group.post("people/:id/remove") { req, ctx in
            let id = try Self.personID(ctx)
            return try await change(req, ctx, .enroll, back: "/console/people/\(id)") { s, form in
                guard form["confirm"] == "yes" else { throw CentralError.invalid("tick the box to confirm the removal") }
                let n = try await store.removePerson(id, by: s.op.asOperator, now: now)
                return ("/console/people", "Person #\(id) removed, with \(counted(n.templates, "template")) and \(counted(n.badges, "badge")).")
            }
        }
        group.post("people/:id/enroll") { req, ctx in try await enrollPhoto(req, ctx) }
        group.post("people/:id/capture") { req, ctx in try await startCapture(req, ctx) }
        group.get("captures/:job") { req, ctx in try await followCapture(req, ctx) }
    }

    /// A session for the page's script: its CSRF token in a header for a change, and the
    /// enroll role. Nil and the refusal as JSON otherwise.
    func scriptSession(_ req: Request, change: Bool) async throws -> (ConsoleSession?, Response?) {
        if change, let refused = Self.crossSite(req) { return (nil, refused) }
        guard let s = try await session(req) else { return (nil, Self.json(EnrollAnswer(status: "error", message: "Sign in again.", reasons: []), status: .unauthorized)) }
        if change, !ConstantTime.equal(req.headers[HTTPField.Name("X-CSRF-Token")!] ?? "", s.csrfToken) {
            return (nil, Self.json(EnrollAnswer(status: "error", message: "Refused: no valid security token. Reload the page.", reasons: []), status: .forbidden))
        }
        guard s.op.role.may(.enroll) else { return (nil, Self.json(EnrollAnswer(status: "error", message: "Your role may not enroll.", reasons: []), status: .forbidden)) }
        return (s, nil)
    }

    /// Enrollment at a door's camera: the job goes to the board that runs the door (as
    /// `warden enroll PERSON --camera DOOR` does); the page follows it with followCapture.
    func startCapture(_ req: Request, _ ctx: FleetRequestContext) async throws -> Response {
        let (s, refused) = try await scriptSession(req, change: true)
        guard let s else { return refused! }
        let id = try Self.personID(ctx)
        let form = FormFields(String(buffer: try await req.body.collect(upTo: WebConsole.maximumForm)))
        do {
            guard let door = form.text("door") else { throw CentralError.invalid("which door's camera?") }
            let seconds = Double(form.text("seconds") ?? "20") ?? 20
            return Self.json(try await server.startCapture(AdminCameraEnroll(person: "#\(id)", door: door, seconds: seconds, templates: 5, force: false), by: s.op))
        } catch let e as CentralError {
            return Self.json(EnrollAnswer(status: "refused", message: "Not started.", reasons: [e.description]), status: .init(code: e.httpStatus))
        }
    }

    /// The job's next change (a long poll of up to 25 s), as the admin API answers it.
    func followCapture(_ req: Request, _ ctx: FleetRequestContext) async throws -> Response {
        let (s, refused) = try await scriptSession(req, change: false)
        guard s != nil else { return refused! }
        let q = FormFields.query(req)
        do {
            return Self.json(try await server.captureStatus(job: ctx.parameters.get("job") ?? "", after: Int(q.get("after") ?? "0") ?? 0, wait: 25))
        } catch let e as CentralError {
            return Self.json(EnrollAnswer(status: "error", message: e.description, reasons: []), status: .init(code: e.httpStatus))
        }
    }

    struct EnrollAnswer: Encodable { let status: String; let message: String; let reasons: [String] }

    /// A photo sent by the page's script (raw bytes, the CSRF token in a header): the same
    /// gates and duplicate check as `warden enroll`, answered as JSON the page shows on the photo.
    func enrollPhoto(_ req: Request, _ ctx: FleetRequestContext) async throws -> Response {
        let (session, refused) = try await scriptSession(req, change: true)
        guard let s = session else { return refused! }
        let id = try Self.personID(ctx)
        let name = String((FormFields.query(req).get("name") ?? "photo").prefix(100))
        do {
            let photo = try await req.body.collect(upTo: ImageLimits.default.maxBytes + 1)
            let reply = try await server.enroll(AdminEnroll(person: "#\(id)", photo: Data(buffer: photo), sourceName: name,
                                                            useLargest: FormFields.query(req).get("largest") == "1", force: false), by: s.op)
            if reply.status == "enrolled" {
                let q = String(format: "%.0f px between the eyes, yaw %.0f°", reply.interEyeDistance ?? 0, reply.yaw ?? 0)
                let message = "Enrolled (template #\(reply.templateID ?? 0); \(q)). The photo was not kept."
                // The page reloads to show the new template: the confirmation goes with it, so
                // it is not gone after the script's second and a half.
                await console.flashes.put(Notice(text: message, error: false), for: s.key)
                return Self.json(EnrollAnswer(status: "enrolled", message: message, reasons: []))
            }
            return Self.json(EnrollAnswer(status: "rejected", message: "Rejected: this photo cannot be enrolled.", reasons: reply.reasons ?? []), status: .unprocessableContent)
        } catch let e as CentralError {
            return Self.json(EnrollAnswer(status: "rejected", message: "Rejected.", reasons: [e.description]), status: .init(code: e.httpStatus))
        } catch {
            return Self.json(EnrollAnswer(status: "rejected", message: "Rejected.", reasons: ["the photo is larger than \(ImageLimits.default.maxBytes) bytes"]), status: .contentTooLarge)
        }
    }

    static func personID(_ ctx: FleetRequestContext) throws -> Int64 {
        guard let id = ctx.parameters.get("id").flatMap({ Int64($0) }) else { throw HTTPError(.notFound, message: "no such person") }
        return id
    }

    static func values(_ p: PersonRecordWire) -> [String: Any] {
        ["id": String(p.id), "name": p.displayName, "externalID": p.externalID ?? "", "status": p.status,
         "validity": ConsoleTime.validity(from: p.validFrom, until: p.validUntil)]
    }
}
