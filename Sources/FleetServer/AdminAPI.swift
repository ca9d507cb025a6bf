import Audit
import Crypto
import FaceKit
import FleetProtocol
import Foundation
import Hummingbird
import Matching
import NIOCore
import Policy
import WardenCore

/// Enrollment at the server: the same gates as `warden enroll` on a board, and the
/// duplicate-identity check against the whole fleet's gallery. One engine, used by one
/// request at a time (enrollment is rare; dlib's networks keep per-pass state).
public final class ServerEnrollment: @unchecked Sendable {
    let engine: FaceEngine
    /// The second recognition model (SFace), when installed beside dlib's: an accepted
    /// photo is stored as a template of each, as `warden enroll` stores it on a board.
    let second: (any FaceRecognizer)?
    let lock = NSLock()
    /// The server's own, used until thresholds are published to the fleet.
    let thresholds: MatchThresholds
    public init(engine: FaceEngine, thresholds: MatchThresholds = .default, second: (any FaceRecognizer)? = nil) {
        self.engine = engine; self.thresholds = thresholds; self.second = second
    }

    func assess(_ bytes: [UInt8], useLargest: Bool) throws -> (verdict: EnrollmentAssessment.Verdict, second: Embedding?) {
        try lock.withLock {
            try EnrollmentAssessment.assess(bytes, engine: engine, detection: DetectionOptions(upsample: 1), quality: .default, useLargest: useLargest,
                                            second: second)
        }
    }
}

extension FleetHTTPServer {
    /// The operator behind the request's bearer token, refused unless their role allows `action`.
    func authorised(_ req: Request, _ action: OperatorRole.Action, _ ctx: FleetRequestContext) async throws -> AuthenticatedOperator {
        guard let header = req.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw CentralError.unauthenticated("the admin API needs an operator token (Authorization: Bearer; WARDEN_OPERATOR_TOKEN for the CLI)")
        }
        let source = ctx.channel.remoteAddress?.ipAddress ?? "unknown"
        let op = try await store.authenticate(token: String(header.dropFirst(7)), source: source)
        guard op.role.may(action) else { throw CentralError.forbidden("operator '\(op.name)' is \(op.role.rawValue) and may not do this") }
        return op
    }

    func adminRoutes(_ router: Router<FleetRequestContext>) {
        router.get(RouterPath(stringLiteral: AdminPath.people)) { req, ctx in
            try await reply { _ = try await authorised(req, .read, ctx); return try await store.listPeople() }
        }
        router.post(RouterPath(stringLiteral: AdminPath.people)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminPersonAdd = try await decode(req)
                return try await store.addPerson(name: r.name, externalID: r.externalID, validFrom: r.validFrom, validUntil: r.validUntil, by: op.asOperator)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.personStatus)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminPersonStatus = try await decode(req)
                let p = try await store.findPerson(r.person)
                try await store.setPersonStatus(p.id, active: r.active, by: op.asOperator)
                return try await store.findPerson("#\(p.id)")
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.personRemove)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminPersonRef = try await decode(req)
                let p = try await store.findPerson(r.person)
                let n = try await store.removePerson(p.id, by: op.asOperator)
                return AdminRemoval(person: p, templatesDeleted: n.templates, badgesDeleted: n.badges)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.badgeIssue)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminBadge = try await decode(req)
                guard let ref = r.person else { throw CentralError.invalid("a badge is issued to a person") }
                let p = try await store.findPerson(ref)
                return try await store.issueBadge(try Self.credential(r), to: p.id, by: op.asOperator)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.badgeRevoke)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminBadge = try await decode(req)
                return try await store.revokeBadge(try Self.credential(r), by: op.asOperator)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.enroll)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminEnroll = try await decode(req)
                return try await enroll(r, by: op)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.grants)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .grant, ctx)
                let r: AdminGrant = try await decode(req)
                var personID: Int64? = nil
                if let ref = r.person { personID = try await store.findPerson(ref).id }
                try await checkGrantAgainstPolicy(zone: r.zone, schedule: r.schedule)
                return try await store.addGrant(personID: personID, group: r.group, zone: r.zone, schedule: r.schedule, until: r.until, by: op.asOperator)
            }
        }
        router.get(RouterPath(stringLiteral: AdminPath.badges)) { req, ctx in
            try await reply {
                _ = try await authorised(req, .read, ctx)
                var personID: Int64? = nil
                if let ref = try Self.text(req, "person") { personID = try await store.findPerson(ref).id }
                return try await store.listBadges(personID: personID)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.grantRevoke)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .grant, ctx)
                let r: AdminGrantRef = try await decode(req)
                try await store.revokeGrant(r.id, by: op.asOperator)
                return r
            }
        }
        // Group membership decides what a group's grants reach: a grant, not enrolment.
        router.post(RouterPath(stringLiteral: AdminPath.groupMembers)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .grant, ctx)
                let r: AdminGroupMember = try await decode(req)
                let p = try await store.findPerson(r.person)
                if r.add { try await store.addMember(p.id, to: r.group, by: op.asOperator) } else { try await store.removeMember(p.id, from: r.group, by: op.asOperator) }
                return p
            }
        }
        router.get(RouterPath(stringLiteral: AdminPath.personDetail)) { req, ctx in
            try await reply {
                _ = try await authorised(req, .read, ctx)
                guard let ref = try Self.text(req, "person") else { throw CentralError.invalid("which person? (?person=REF)") }
                return try await store.personDetail(ref)
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.groups)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .grant, ctx)
                let r: AdminGroupName = try await decode(req)
                try await store.createGroup(r.name, by: op.asOperator)
                return r
            }
        }
        router.get(RouterPath(stringLiteral: AdminPath.site)) { req, ctx in
            try await reply { _ = try await authorised(req, .read, ctx); return try await store.siteView() }
        }
        router.post(RouterPath(stringLiteral: AdminPath.thresholds)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .configure, ctx)
                let r: AdminConfiguration = try await decode(req)
                do { try ThresholdsFile.checkPublishable(r.files) } catch { throw CentralError.invalid("not published: \(error)") }
                return AdminVersion(version: try await store.putConfiguration(.thresholds, files: r.files, by: op.asOperator))
            }
        }
        router.get(RouterPath(stringLiteral: AdminPath.auditVerify)) { req, ctx in
            try await reply {
                _ = try await authorised(req, .read, ctx)
                let silent = try PeerInput.seconds(req.uri.queryParameters.get("silent_seconds"), "silent_seconds", in: 0...(100 * 365 * 86_400), default: 3600)
                return try await store.verifyChains(silentAfter: silent)
            }
        }
        router.get(RouterPath(stringLiteral: AdminPath.auditExport)) { req, ctx in
            do {
                _ = try await authorised(req, .read, ctx)
                let q = req.uri.queryParameters
                let person = try q.get("person").map { try PeerInput.integer($0, "person", in: 1...Int64.max, default: 0) }
                for key in ["controller", "door"] { try PeerInput.check(q.get(key), key, maxBytes: FieldLimits.identifier) }
                guard let format = ExportFormat(rawValue: q.get("format") ?? "csv") else { throw InvalidField("format", "'\(q.get("format") ?? "")' is not csv or jsonl") }
                return try await auditExport(AuditQuery(controller: q.get("controller"), door: q.get("door"), personID: person,
                                                        from: try PeerInput.time(q.get("from"), "from"), to: try PeerInput.time(q.get("to"), "to")),
                                             format: format)
            } catch {
                let e = CentralStore.refusal(error) as? CentralError ?? .database("the export failed: \(error)")
                return errorResponse(e.httpStatus, ErrorReply(error: e.description))
            }
        }
        router.post(RouterPath(stringLiteral: AdminPath.policy)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .configure, ctx)
                let r: AdminConfiguration = try await decode(req)
                try Self.checkPolicy(r.files)
                return AdminVersion(version: try await store.putConfiguration(.policy, files: r.files, by: op.asOperator))
            }
        }
    }

    /// The central log's rows that `query` selects, as one CSV or JSON-lines file: the admin
    /// API's export and the console's.
    package func auditExport(_ query: AuditQuery, format: ExportFormat) async throws -> Response {
        var text = format == .csv ? AuditExporter.csvLine(AuditExporter.fleetCSVColumns) : ""
        try await store.forEachEvent(query) { name, row in text += try AuditExporter.fleetLine(controller: name, row: row, format: format) }
        return Response(status: .ok, headers: [.contentType: format == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                                               .contentDisposition: "attachment; filename=\"warden-audit.\(format == .csv ? "csv" : "jsonl")\""],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    package static func credential(_ r: AdminBadge) throws -> BadgeCredential {
        guard let format = BadgeFormat(rawValue: r.format) else { throw CentralError.invalid("unknown badge format '\(r.format)'") }
        do { return try BadgeCredential(parsing: r.credential, format: format) } catch { throw CentralError.invalid("\(error)") }
    }

    /// A grant names a zone and schedule of the policy in force, as a board's `grant`
    /// command requires. Before any policy is published there is nothing to check against.
    package func checkGrantAgainstPolicy(zone: String, schedule: String?) async throws {
        guard let files = try await store.siteView().policy?.files else { return }
        guard let policy = try? PolicyLoader().load(sources: files.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) else { return }
        if let problem = policy.grantProblem(zone: zone, schedule: schedule) { throw CentralError.invalid(problem) }
    }

    /// A policy is published only if it loads, with the same located errors as on a board.
    static func checkPolicy(_ files: [String: String]) throws {
        guard !files.isEmpty else { throw CentralError.invalid("a policy needs at least one NAME.yaml file") }
        for name in files.keys {
            if let problem = ConfigurationFileRules.nameProblem(name) { throw CentralError.invalid("policy \(problem)") }
            guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else {
                throw CentralError.invalid("policy file name '\(name)' must be a plain NAME.yaml")
            }
        }
        do { _ = try PolicyLoader().load(sources: files.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) } catch {
            throw CentralError.invalid("the policy does not load: " + error.issues.map(\.description).joined(separator: "; "))
        }
    }

    package func enroll(_ r: AdminEnroll, by op: AuthenticatedOperator) async throws -> AdminEnrollReply {
        guard let enrollment else { throw CentralError.invalid("this server has no face models (start it with --models DIR) and cannot enroll photos") }
        let person = try await store.findPerson(r.person)
        let bytes = [UInt8](r.photo)
        guard bytes.count <= ImageLimits.default.maxBytes else { throw CentralError.invalid("\(r.sourceName): larger than \(ImageLimits.default.maxBytes) bytes") }
        let sha = Hex.encode(SHA256.hash(data: bytes))
        let assessed: (verdict: EnrollmentAssessment.Verdict, second: Embedding?)
        do { assessed = try enrollment.assess(bytes, useLargest: r.useLargest) } catch { throw CentralError.invalid("\(r.sourceName): \(error)") }
        switch assessed.verdict {
        case .rejected(let why): return AdminEnrollReply(status: "rejected", reasons: why)
        case .accepted(let embedding, let q):
            // The duplicate check is dlib's, against the whole fleet, as on a board.
            if !r.force { try await refuseDuplicates([embedding], of: person.id) }
            // One change: the face as a template of each model, from the same detection.
            let templates = ([embedding] + (assessed.second.map { [$0] } ?? [])).map {
                TemplateRecordWire(id: 0, personID: person.id, embedding: Data($0.serialized()), modelID: $0.modelID,
                                   interEyeDistance: q.interEyeDistance, sharpness: q.sharpness, yaw: q.yaw, roll: q.roll,
                                   detectionScore: q.detectionScore, sourceSHA256: sha, sourceName: r.sourceName,
                                   createdBy: op.name, createdAt: Date())
            }
            let ids = try await store.addTemplates(templates, source: r.sourceName, by: op.asOperator)
            var reply = AdminEnrollReply(status: "enrolled", templateID: ids[0])
            reply.interEyeDistance = q.interEyeDistance; reply.sharpness = q.sharpness; reply.yaw = q.yaw; reply.roll = q.roll
            reply.models = templates.map(\.modelID)
            return reply
        }
    }
}
