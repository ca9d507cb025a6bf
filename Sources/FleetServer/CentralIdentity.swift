import Audit
import FaceKit
import FleetProtocol
import Foundation
import PostgresNIO
import WardenCore

/// People, badges, templates, groups, grants and configuration at the server: the same
/// checks and the same words as the board's own repositories, each change one revision.
extension CentralStore {
    /// A person's name as stored (trimmed), and their external id, checked as a board checks
    /// them; for one person added and for a batch imported.
    static func checkedName(_ rawName: String, externalID: String?) throws -> String {
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw CentralError.invalid("a person needs a non-empty name" + (externalID.map { " (external id '\($0)')" } ?? "")) }
        if let p = DisplayText.problem(name, as: "a name") { throw CentralError.invalid(p) }
        if let ext = externalID, let p = DisplayText.problem(ext, as: "an external id", maxLength: 100) { throw CentralError.invalid(p) }
        return name
    }

    public func addPerson(name rawName: String, externalID: String?, validFrom: Date?, validUntil: Date?, by op: Operator, now: Date = Date()) async throws -> PersonRecordWire {
        let name = try Self.checkedName(rawName, externalID: externalID)
        try Self.checkValidity(validFrom, validUntil)
        return try await change(by: op) { conn, rev in
            if let ext = externalID, try await self.one(conn.query("SELECT id FROM person WHERE external_id = \(ext)", logger: self.logger), Int64.self) != nil {
                throw CentralError.conflict("external id '\(ext)' already belongs to someone")
            }
            let id = try await self.one(conn.query("""
                INSERT INTO person (display_name, external_id, status, valid_from, valid_until, created_at, updated_at, revision)
                VALUES (\(name), \(externalID), 'active', \(validFrom), \(validUntil), \(now), \(now), \(rev)) RETURNING id
                """, logger: self.logger), Int64.self)!
            let p = PersonRecordWire(id: id, displayName: name, externalID: externalID, status: "active", validFrom: validFrom, validUntil: validUntil, createdAt: now, updatedAt: now)
            return (p, AuditEvent.admin("admin.person_add", operator: op.name, subject: "person:\(id)", detail: ["name": name, "external_id": externalID ?? ""], at: now))
        }
    }

    /// Validity bounds within the dates Warden stores, in order. Every way a person is
    /// added or changed (admin API, console, CLI on the server host) passes here.
    static func checkValidity(_ validFrom: Date?, _ validUntil: Date?) throws {
        try PeerInput.check(validFrom, "validFrom")
        try PeerInput.check(validUntil, "validUntil")
        if let f = validFrom, let u = validUntil, u <= f { throw CentralError.invalid("valid-until must be after valid-from") }
    }

    /// `#ID` or a number, an external id, or an exact name (refused when two share it).
    public func findPerson(_ reference: String) async throws -> PersonRecordWire {
        let ref = reference.trimmingCharacters(in: .whitespaces)
        let numeric = ref.hasPrefix("#") ? String(ref.dropFirst()) : ref
        let all = try await people(matching: Int64(numeric), externalID: ref, name: ref)
        if let id = Int64(numeric), let p = all.first(where: { $0.id == id }) { return p }
        if let p = all.first(where: { $0.externalID == ref }) { return p }
        let byName = all.filter { $0.displayName == ref }
        if byName.count == 1 { return byName[0] }
        if byName.count > 1 { throw CentralError.conflict("\(byName.count) people are named '\(ref)' (ids \(byName.map { String($0.id) }.joined(separator: ", "))); use the id") }
        throw CentralError.notFound("no person '\(ref)' (give a Warden id, an external id or an exact name; `warden person list` shows them)")
    }

    private func people(matching id: Int64?, externalID: String, name: String) async throws -> [PersonRecordWire] {
        var out: [PersonRecordWire] = []
        let rows = try await client.query("""
            SELECT id, display_name, external_id, status, valid_from, valid_until, created_at, updated_at FROM person
            WHERE id = \(id ?? -1) OR external_id = \(externalID) OR display_name = \(name) ORDER BY id
            """, logger: logger)
        for try await (id, n, ext, st, f, u, c, up) in rows.decode((Int64, String, String?, String, Date?, Date?, Date, Date).self) {
            out.append(PersonRecordWire(id: id, displayName: n, externalID: ext, status: st, validFrom: f, validUntil: u, createdAt: c, updatedAt: up))
        }
        return out
    }

    public func listPeople() async throws -> [PersonRecordWire] {
        var out: [PersonRecordWire] = []
        let rows = try await client.query("SELECT id, display_name, external_id, status, valid_from, valid_until, created_at, updated_at FROM person ORDER BY id", logger: logger)
        for try await (id, n, ext, st, f, u, c, up) in rows.decode((Int64, String, String?, String, Date?, Date?, Date, Date).self) {
            out.append(PersonRecordWire(id: id, displayName: n, externalID: ext, status: st, validFrom: f, validUntil: u, createdAt: c, updatedAt: up))
        }
        return out
    }

    public func setPersonStatus(_ id: Int64, active: Bool, by op: Operator, now: Date = Date()) async throws {
        try await change(by: op) { conn, rev in
            let updated = try await self.one(conn.query("UPDATE person SET status = \(active ? "active" : "suspended"), updated_at = \(now), revision = \(rev) WHERE id = \(id) RETURNING id", logger: self.logger), Int64.self)
            guard updated != nil else { throw CentralError.notFound("no person #\(id)") }
            return ((), AuditEvent.admin(active ? "admin.person_activate" : "admin.person_suspend", operator: op.name, subject: "person:\(id)", at: now))
        }
    }

    /// When the person's access begins and ends (nil: no bound), as `warden person set` does on a board.
    public func setPersonValidity(_ id: Int64, from validFrom: Date?, until validUntil: Date?, by op: Operator, now: Date = Date()) async throws {
        try Self.checkValidity(validFrom, validUntil)
        try await change(by: op) { conn, rev in
            let updated = try await self.one(conn.query("""
                UPDATE person SET valid_from = \(validFrom), valid_until = \(validUntil), updated_at = \(now), revision = \(rev) WHERE id = \(id) RETURNING id
                """, logger: self.logger), Int64.self)
            guard updated != nil else { throw CentralError.notFound("no person #\(id)") }
            return ((), AuditEvent.admin("admin.person_validity", operator: op.name, subject: "person:\(id)",
                                         detail: ["valid_from": validFrom.map(AuditTime.utc) ?? "", "valid_until": validUntil.map(AuditTime.utc) ?? ""], at: now))
        }
    }

    /// Deletes the person and, for good, every template and badge of theirs, on the server
    /// and (through the feed's tombstones) on every board.
    public func removePerson(_ id: Int64, by op: Operator, now: Date = Date()) async throws -> (templates: Int, badges: Int) {
        try await change(by: op) { conn, rev in
            guard let name = try await self.one(conn.query("SELECT display_name FROM person WHERE id = \(id) FOR UPDATE", logger: self.logger), String.self) else {
                throw CentralError.notFound("no person #\(id)")
            }
            var counts: [String: Int] = [:]
            for (table, kind) in [("badge", "badge"), ("face_template", "template"), ("access_grant", "grant")] {
                let ids = try await self.ids(conn.query(PostgresQuery(unsafeSQL: "SELECT id FROM \(table) WHERE person_id = $1", binds: Self.binds(id)), logger: self.logger))
                counts[kind] = ids.count
                try await self.tombstone(kind, ids, rev, conn)
            }
            try await self.tombstone("person", [id], rev, conn)
            // Groups the person was in change too (their member lists).
            try await conn.query("UPDATE person_group SET revision = \(rev) WHERE id IN (SELECT group_id FROM group_membership WHERE person_id = \(id))", logger: self.logger)
            try await conn.query("DELETE FROM person WHERE id = \(id)", logger: self.logger)
            return ((counts["template"] ?? 0, counts["badge"] ?? 0),
                    AuditEvent.admin("admin.person_remove", operator: op.name, subject: "person:\(id)",
                                     detail: ["name": name, "templates_deleted": String(counts["template"] ?? 0), "badges_deleted": String(counts["badge"] ?? 0)], at: now))
        }
    }

    public func issueBadge(_ credential: BadgeCredential, to personID: Int64, by op: Operator, now: Date = Date()) async throws -> BadgeRecordWire {
        try await change(by: op) { conn, rev in
            guard try await self.one(conn.query("SELECT id FROM person WHERE id = \(personID)", logger: self.logger), Int64.self) != nil else {
                throw CentralError.notFound("no person #\(personID)")
            }
            if let holder = try await self.one(conn.query("""
                SELECT person_id FROM badge WHERE format = \(credential.format.rawValue) AND facility_code = \(credential.facilityCode)
                AND card_number = \(credential.cardNumber) AND status = 'active'
                """, logger: self.logger), Int64.self) {
                throw CentralError.conflict("badge \(credential) is already active for person #\(holder); revoke it first")
            }
            let id = try await self.one(conn.query("""
                INSERT INTO badge (person_id, format, facility_code, card_number, status, issued_at, revision)
                VALUES (\(personID), \(credential.format.rawValue), \(credential.facilityCode), \(credential.cardNumber), 'active', \(now), \(rev)) RETURNING id
                """, logger: self.logger), Int64.self)!
            let b = BadgeRecordWire(id: id, personID: personID, format: credential.format.rawValue, facilityCode: credential.facilityCode,
                                    cardNumber: credential.cardNumber, status: "active", issuedAt: now, revokedAt: nil)
            return (b, AuditEvent.admin("admin.badge_issue", operator: op.name, subject: "person:\(personID)", detail: ["badge": credential.description, "format": credential.format.rawValue], at: now))
        }
    }

    /// Every badge, or one person's, oldest first (revoked ones too: they are kept).
    public func listBadges(personID: Int64?) async throws -> [BadgeRecordWire] {
        var out: [BadgeRecordWire] = []
        let rows = try await client.query("""
            SELECT id, person_id, format, facility_code, card_number, status, issued_at, revoked_at FROM badge
            WHERE (\(personID)::bigint IS NULL OR person_id = \(personID)) ORDER BY id
            """, logger: logger)
        for try await (id, person, format, fc, card, status, issued, revoked) in rows.decode((Int64, Int64, String, Int, Int64, String, Date, Date?).self) {
            out.append(BadgeRecordWire(id: id, personID: person, format: format, facilityCode: fc, cardNumber: card, status: status, issuedAt: issued, revokedAt: revoked))
        }
        return out
    }

    public func revokeBadge(_ credential: BadgeCredential, by op: Operator, now: Date = Date()) async throws -> BadgeRecordWire {
        try await change(by: op) { conn, rev in
            guard let (id, person) = try await self.one(conn.query("""
                UPDATE badge SET status = 'revoked', revoked_at = \(now), revision = \(rev)
                WHERE format = \(credential.format.rawValue) AND facility_code = \(credential.facilityCode) AND card_number = \(credential.cardNumber) AND status = 'active'
                RETURNING id, person_id
                """, logger: self.logger), (Int64, Int64).self) else {
                throw CentralError.notFound("no active badge \(credential)")
            }
            let b = BadgeRecordWire(id: id, personID: person, format: credential.format.rawValue, facilityCode: credential.facilityCode,
                                    cardNumber: credential.cardNumber, status: "revoked", issuedAt: now, revokedAt: now)
            return (b, AuditEvent.admin("admin.badge_revoke", operator: op.name, subject: "person:\(person)", detail: ["badge": credential.description], at: now))
        }
    }

    /// Stores a template (the embedding arrives plain and is sealed under the server key).
    /// The caller has run the enrollment gates and the duplicate check.
    public func addTemplate(_ t: TemplateRecordWire, by op: Operator, now: Date = Date()) async throws -> Int64 {
        try await addTemplates([t], source: t.sourceName, by: op, now: now)[0]
    }

    /// Stores several templates of one person as one change (a camera capture's set): all
    /// of them, or none. One audit event names them all.
    public func addTemplates(_ templates: [TemplateRecordWire], source: String, by op: Operator, now: Date = Date()) async throws -> [Int64] {
        guard let personID = templates.first?.personID, templates.allSatisfy({ $0.personID == personID }) else {
            throw CentralError.invalid("templates are added for one person at a time")
        }
        var boxes: [Data] = []
        for t in templates {
            let plain: Embedding
            do { plain = try Embedding(serialized: [UInt8](t.embedding)) } catch { throw CentralError.invalid("the template's embedding cannot be read: \(error)") }
            boxes.append(try cipher.seal(plain, personID: personID))
        }
        let sealed = boxes
        return try await change(by: op) { conn, rev in
            guard try await self.one(conn.query("SELECT id FROM person WHERE id = \(personID)", logger: self.logger), Int64.self) != nil else {
                throw CentralError.notFound("no person #\(personID)")
            }
            var ids: [Int64] = []
            for (t, box) in zip(templates, sealed) {
                ids.append(try await self.one(conn.query("""
                    INSERT INTO face_template (person_id, sealed, model_id, inter_eye_distance, sharpness, yaw, roll, detection_score,
                                               source_sha256, source_name, created_by, created_at, revision)
                    VALUES (\(personID), \(box), \(t.modelID), \(t.interEyeDistance), \(t.sharpness), \(t.yaw), \(t.roll), \(t.detectionScore),
                            \(t.sourceSHA256), \(t.sourceName), \(op.name), \(now), \(rev)) RETURNING id
                    """, logger: self.logger), Int64.self)!)
            }
            let detail = ids.count == 1 ? ["template": String(ids[0]), "source": source, "source_sha256": templates[0].sourceSHA256]
                : ["templates": ids.map(String.init).joined(separator: ","), "source": source]
            return (ids, AuditEvent.admin("admin.template_enroll", operator: op.name, subject: "person:\(personID)", detail: detail, at: now))
        }
    }

    /// Every template of one model, decrypted: the fleet's gallery, for the duplicate check.
    public func allTemplates(modelID: String) async throws -> [(id: Int64, personID: Int64, embedding: Embedding)] {
        var out: [(Int64, Int64, Embedding)] = []
        let rows = try await client.query("SELECT id, person_id, sealed FROM face_template WHERE model_id = \(modelID) ORDER BY id", logger: logger)
        for try await (id, person, sealed) in rows.decode((Int64, Int64, Data).self) {
            out.append((id, person, try cipher.open(sealed, personID: person, modelID: modelID)))
        }
        return out
    }

    /// Adds a person to a group, creating the group if it is new.
    public func addMember(_ personID: Int64, to group: String, by op: Operator, now: Date = Date()) async throws {
        if let p = DisplayText.problem(group, as: "a group name", maxLength: 100) { throw CentralError.invalid(p) }
        try await change(by: op) { conn, rev in
            guard try await self.one(conn.query("SELECT id FROM person WHERE id = \(personID)", logger: self.logger), Int64.self) != nil else {
                throw CentralError.notFound("no person #\(personID)")
            }
            let gid = try await self.one(conn.query("""
                INSERT INTO person_group (name, created_at, revision) VALUES (\(group), \(now), \(rev))
                ON CONFLICT (name) DO UPDATE SET revision = excluded.revision RETURNING id
                """, logger: self.logger), Int64.self)!
            try await conn.query("INSERT INTO group_membership (group_id, person_id) VALUES (\(gid), \(personID)) ON CONFLICT DO NOTHING", logger: self.logger)
            return ((), AuditEvent.admin("admin.group_add_member", operator: op.name, subject: "person:\(personID)", detail: ["group": group], at: now))
        }
    }

    /// Takes a person out of a group; the group's row takes the revision, so every board
    /// replaces its member list.
    public func removeMember(_ personID: Int64, from group: String, by op: Operator, now: Date = Date()) async throws {
        try await change(by: op) { conn, rev in
            guard let gid = try await self.one(conn.query("UPDATE person_group SET revision = \(rev) WHERE name = \(group) RETURNING id", logger: self.logger), Int64.self) else {
                throw CentralError.notFound("no group '\(group)'")
            }
            guard try await self.one(conn.query("DELETE FROM group_membership WHERE group_id = \(gid) AND person_id = \(personID) RETURNING person_id", logger: self.logger), Int64.self) != nil else {
                throw CentralError.notFound("#\(personID) is not in \(group)")
            }
            return ((), AuditEvent.admin("admin.group_remove_member", operator: op.name, subject: "person:\(personID)", detail: ["group": group], at: now))
        }
    }

    public func addGrant(personID: Int64?, group: String?, zone: String, schedule: String?, until: Date?, by op: Operator, now: Date = Date()) async throws -> GrantRecordWire {
        guard (personID == nil) != (group == nil) else { throw CentralError.invalid("a grant is for a person or a group, not both") }
        if let p = DisplayText.problem(zone, as: "a zone", maxLength: 100) { throw CentralError.invalid(p) }
        try PeerInput.check(until, "until")
        return try await change(by: op) { conn, rev in
            if let personID, try await self.one(conn.query("SELECT id FROM person WHERE id = \(personID)", logger: self.logger), Int64.self) == nil {
                throw CentralError.notFound("no person #\(personID)")
            }
            let id = try await self.one(conn.query("""
                INSERT INTO access_grant (person_id, group_name, zone, schedule, until, created_by, created_at, revision)
                VALUES (\(personID), \(group), \(zone), \(schedule), \(until), \(op.name), \(now), \(rev)) RETURNING id
                """, logger: self.logger), Int64.self)!
            let g = GrantRecordWire(id: id, personID: personID, groupName: group, zone: zone, schedule: schedule, until: until, createdBy: op.name, createdAt: now)
            return (g, AuditEvent.admin("admin.grant", operator: op.name, subject: personID.map { "person:\($0)" } ?? "group:\(group!)",
                                        detail: ["grant": String(id), "zone": zone, "schedule": schedule ?? "", "until": until.map(AuditTime.utc) ?? ""], at: now))
        }
    }

    public func revokeGrant(_ id: Int64, by op: Operator, now: Date = Date()) async throws {
        try await change(by: op) { conn, rev in
            guard let zone = try await self.one(conn.query("DELETE FROM access_grant WHERE id = \(id) RETURNING zone", logger: self.logger), String.self) else {
                throw CentralError.notFound("no stored grant grant-\(id)")
            }
            try await self.tombstone("grant", [id], rev, conn)
            return ((), AuditEvent.admin("admin.grant_revoke", operator: op.name, subject: "grant:\(id)", detail: ["zone": zone], at: now))
        }
    }

    /// A new version of the policy (its YAML files) or of the thresholds; the caller has
    /// checked it loads.
    public func putConfiguration(_ kind: EntityKind, files: [String: String], by op: Operator, now: Date = Date()) async throws -> Int64 {
        guard kind == .policy || kind == .thresholds else { throw CentralError.invalid("only the policy and the thresholds are versioned configuration") }
        let text = String(decoding: try FleetJSON.encoder().encode(files), as: UTF8.self)
        return try await change(by: op) { conn, rev in
            let version = try await self.one(conn.query("""
                INSERT INTO configuration_version (kind, files, created_by, created_at, revision) VALUES (\(kind.rawValue), \(text), \(op.name), \(now), \(rev))
                RETURNING version
                """, logger: self.logger), Int64.self)!
            return (version, AuditEvent.admin("admin.\(kind.rawValue)_publish", operator: op.name, subject: kind.rawValue,
                                              detail: ["version": String(version), "files": files.keys.sorted().joined(separator: ",")], at: now))
        }
    }

    func tombstone(_ kind: String, _ ids: [Int64], _ rev: Int64, _ conn: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        try await conn.query("""
            INSERT INTO tombstone (kind, entity_id, revision) SELECT \(kind), unnest(\(ids)::bigint[]), \(rev)
            ON CONFLICT (kind, entity_id) DO UPDATE SET revision = excluded.revision
            """, logger: logger)
    }

    func ids(_ rows: PostgresRowSequence) async throws -> [Int64] {
        var out: [Int64] = []
        for try await id in rows.decode(Int64.self) { out.append(id) }
        return out
    }

    static func binds(_ values: Int64...) -> PostgresBindings {
        var b = PostgresBindings()
        for v in values { b.append(v) }
        return b
    }
}
