import Audit
import FleetProtocol
import Foundation
import Matching
import PostgresNIO
import WardenCore

/// What the admin CLI reads at the server, and the few changes that need nothing but a
/// name: each read built from the same queries as the change feed, so an operator sees
/// what the boards are given.
extension CentralStore {
    /// A group with no members yet, as `warden group create` makes one on a board.
    public func createGroup(_ name: String, by op: Operator, now: Date = Date()) async throws {
        if let p = DisplayText.problem(name, as: "a group name", maxLength: 100) { throw CentralError.invalid(p) }
        try await change(by: op) { conn, rev in
            guard try await self.one(conn.query("""
                INSERT INTO person_group (name, created_at, revision) VALUES (\(name), \(now), \(rev)) ON CONFLICT (name) DO NOTHING RETURNING id
                """, logger: self.logger), Int64.self) != nil else {
                throw CentralError.conflict("group '\(name)' already exists")
            }
            return ((), AuditEvent.admin("admin.group_create", operator: op.name, subject: "group:\(name)", detail: [:], at: now))
        }
    }

    /// The version in force of the policy or the thresholds, if one was ever published.
    public func currentConfiguration(_ kind: EntityKind) async throws -> ConfigurationVersion? {
        try await configurations(since: 0, limit: 2).first { $0.kind == kind }?.configuration
    }

    /// The thresholds published to the fleet, or nil when none were. A published file is
    /// checked before it is stored, so one that no longer parses here (a newer server's) is
    /// an error, not a silent fall back.
    public func publishedThresholds() async throws -> MatchThresholds? {
        guard let text = try await currentConfiguration(.thresholds)?.files[ThresholdsFile.fileName] else { return nil }
        let source = "the published \(ThresholdsFile.fileName)"
        do { return try ThresholdsFile.parse(text, source: source).thresholds(source: source) } catch {
            throw CentralError.invalid(error.description)
        }
    }

    public func siteView() async throws -> AdminSiteView {
        // Groups and grants are few (hundreds), unlike people: the whole list in one answer.
        let all = 1_000_000
        let revision = try await currentRevision()
        let configurations = try await configurations(since: 0, limit: 2)
        return AdminSiteView(revision: revision,
                             policy: configurations.first { $0.kind == .policy }?.configuration,
                             thresholds: configurations.first { $0.kind == .thresholds }?.configuration,
                             groups: try await groups(since: 0, limit: all).compactMap(\.group).sorted { $0.name < $1.name },
                             grants: try await grants(since: 0, limit: all).compactMap(\.grant).sorted { $0.id < $1.id })
    }

    public func personDetail(_ reference: String) async throws -> AdminPersonDetail {
        let person = try await findPerson(reference)
        var templates: [AdminTemplateInfo] = []
        let rows = try await client.query("""
            SELECT id, model_id, source_name, inter_eye_distance, sharpness, yaw, roll, created_by, created_at
            FROM face_template WHERE person_id = \(person.id) ORDER BY id
            """, logger: logger)
        for try await (id, model, source, eye, sharp, yaw, roll, by, at) in rows.decode((Int64, String, String, Double, Double, Double, Double, String, Date).self) {
            templates.append(AdminTemplateInfo(id: id, modelID: model, sourceName: source, interEyeDistance: eye, sharpness: sharp, yaw: yaw, roll: roll, createdBy: by, createdAt: at))
        }
        return AdminPersonDetail(person: person, badges: try await listBadges(personID: person.id), templates: templates)
    }
}
