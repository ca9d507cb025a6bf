import FaceKit
import FleetProtocol
import Foundation
import PostgresNIO

extension CentralStore {
    public static let defaultPageSize = 5_000

    /// Everything that changed after `since`, each entity once in its latest state, oldest
    /// revision first, at most about `limit` items. `through` is the revision the replica
    /// reaches by applying them: pages never split a revision, so a replica is always at a
    /// state the server was in, or (mid-way through a long catch-up) on the way to it.
    /// `since` 0 is a snapshot: the replica replaces what it holds.
    public func changes(since: Int64, limit: Int = defaultPageSize) async throws -> ChangeSet {
        var current = try await currentRevision()
        // A board holding a revision this database never reached: it was rewound.
        if since > current || current < watermark.value {
            try await checkRewind(claimed: since)
            current = try await currentRevision()
        }
        let feed = try await feedIdentity()
        guard since < current else { return ChangeSet(since: since, through: max(since, current), snapshot: since == 0, items: [], current: current, feed: feed) }
        var items: [ChangeItem] = []
        // Each source, with whether it filled its limit (then it may hold more).
        var truncatedAt: [Int64] = []
        func note(_ got: [ChangeItem]) { items += got; if got.count >= limit, let last = got.last { truncatedAt.append(last.revision) } }
        note(try await persons(since: since, limit: limit))
        note(try await groups(since: since, limit: limit))
        note(try await badges(since: since, limit: limit))
        note(try await templates(since: since, limit: limit))
        note(try await grants(since: since, limit: limit))
        note(try await configurations(since: since, limit: limit))
        note(try await tombstones(since: since, limit: limit))
        items.sort { ($0.revision, $0.kind, $0.id) < ($1.revision, $1.kind, $1.id) }
        var through = current
        if items.count > limit { through = items[limit - 1].revision }
        // A source that filled its page may hold more rows of its last revision: stop before it.
        for t in truncatedAt { through = min(through, t - 1) }
        if through <= since { through = items.first!.revision }  // one revision larger than a page: send it whole
        items.removeAll { $0.revision > through }
        return ChangeSet(since: since, through: through, snapshot: since == 0, items: items, current: current, feed: feed)
    }

    private func persons(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("""
            SELECT id, display_name, external_id, status, valid_from, valid_until, created_at, updated_at, revision
            FROM person WHERE revision > \(since) ORDER BY revision LIMIT \(limit)
            """, logger: logger)
        for try await (id, name, ext, status, from, until, created, updated, rev) in rows.decode((Int64, String, String?, String, Date?, Date?, Date, Date, Int64).self) {
            var i = ChangeItem(revision: rev, kind: .person, id: id)
            i.person = PersonRecordWire(id: id, displayName: name, externalID: ext, status: status, validFrom: from, validUntil: until, createdAt: created, updatedAt: updated)
            out.append(i)
        }
        return out
    }

    func groups(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("""
            SELECT g.id, g.name, g.created_at, g.revision, coalesce(array_agg(m.person_id) FILTER (WHERE m.person_id IS NOT NULL), '{}')
            FROM person_group g LEFT JOIN group_membership m ON m.group_id = g.id
            WHERE g.revision > \(since) GROUP BY g.id ORDER BY g.revision LIMIT \(limit)
            """, logger: logger)
        for try await (id, name, created, rev, members) in rows.decode((Int64, String, Date, Int64, [Int64]).self) {
            var i = ChangeItem(revision: rev, kind: .group, id: id)
            i.group = GroupRecordWire(id: id, name: name, createdAt: created, members: members.sorted())
            out.append(i)
        }
        return out
    }

    private func badges(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("""
            SELECT id, person_id, format, facility_code, card_number, status, issued_at, revoked_at, revision
            FROM badge WHERE revision > \(since) ORDER BY revision LIMIT \(limit)
            """, logger: logger)
        for try await (id, person, format, fc, card, status, issued, revoked, rev) in rows.decode((Int64, Int64, String, Int, Int64, String, Date, Date?, Int64).self) {
            var i = ChangeItem(revision: rev, kind: .badge, id: id)
            i.badge = BadgeRecordWire(id: id, personID: person, format: format, facilityCode: fc, cardNumber: card, status: status, issuedAt: issued, revokedAt: revoked)
            out.append(i)
        }
        return out
    }

    private func templates(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("""
            SELECT id, person_id, sealed, model_id, inter_eye_distance, sharpness, yaw, roll, detection_score,
                   source_sha256, source_name, created_by, created_at, revision
            FROM face_template WHERE revision > \(since) ORDER BY revision LIMIT \(limit)
            """, logger: logger)
        for try await (id, person, sealed, model, eye, sharp, yaw, roll, score, sha, source, by, created, rev) in rows.decode(
            (Int64, Int64, Data, String, Double, Double, Double, Double, Double, String, String, String, Date, Int64).self) {
            let plain = try cipher.open(sealed, personID: person, modelID: model)
            var i = ChangeItem(revision: rev, kind: .template, id: id)
            i.template = TemplateRecordWire(id: id, personID: person, embedding: Data(plain.serialized()), modelID: model, interEyeDistance: eye, sharpness: sharp,
                                            yaw: yaw, roll: roll, detectionScore: score, sourceSHA256: sha, sourceName: source, createdBy: by, createdAt: created)
            out.append(i)
        }
        return out
    }

    func grants(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("""
            SELECT id, person_id, group_name, zone, schedule, until, created_by, created_at, revision
            FROM access_grant WHERE revision > \(since) ORDER BY revision LIMIT \(limit)
            """, logger: logger)
        for try await (id, person, group, zone, schedule, until, by, created, rev) in rows.decode((Int64, Int64?, String?, String, String?, Date?, String, Date, Int64).self) {
            var i = ChangeItem(revision: rev, kind: .grant, id: id)
            i.grant = GrantRecordWire(id: id, personID: person, groupName: group, zone: zone, schedule: schedule, until: until, createdBy: by, createdAt: created)
            out.append(i)
        }
        return out
    }

    /// The version in force of each configuration (policy, thresholds), when it changed after `since`.
    func configurations(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("""
            SELECT DISTINCT ON (kind) kind, version, files, created_by, created_at, revision
            FROM configuration_version ORDER BY kind, version DESC
            """, logger: logger)
        for try await (kind, version, files, by, created, rev) in rows.decode((String, Int64, String, String, Date, Int64).self) where rev > since {
            let decoded = try FleetJSON.decoder().decode([String: String].self, from: Data(files.utf8))
            var i = ChangeItem(revision: rev, kind: kind == "policy" ? .policy : .thresholds, id: version)
            i.configuration = ConfigurationVersion(version: version, files: decoded, createdBy: by, createdAt: created)
            out.append(i)
        }
        return out
    }

    private func tombstones(since: Int64, limit: Int) async throws -> [ChangeItem] {
        var out: [ChangeItem] = []
        let rows = try await client.query("SELECT kind, entity_id, revision FROM tombstone WHERE revision > \(since) ORDER BY revision LIMIT \(limit)", logger: logger)
        for try await (kind, id, rev) in rows.decode((String, Int64, Int64).self) {
            guard let k = EntityKind(rawValue: kind) else { continue }
            out.append(ChangeItem(revision: rev, kind: k, id: id, deleted: true))
        }
        return out
    }
}
