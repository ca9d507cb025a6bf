import Audit
import FaceKit
import FleetProtocol
import Foundation
import PostgresNIO
import WardenCore

/// A person brought in whole from another system (a migration, or `warden bench fleet`'s
/// gallery): name, external id (required: it is how the rows are matched up), and
/// optionally an embedding made elsewhere by the same model.
public struct ImportedPerson: Sendable {
    public var name: String
    public var externalID: String
    public var embedding: Embedding?
    public init(name: String, externalID: String, embedding: Embedding?) { self.name = name; self.externalID = externalID; self.embedding = embedding }
}

extension CentralStore {
    /// Adds people (and their templates, sealed) in one transaction and one revision, with
    /// one admin event for the batch: a site of 100,000 people loads in minutes, not the
    /// hours one change per person takes. The same checks on names and external ids as
    /// `addPerson`; a batch with any problem is refused whole.
    public func importPeople(_ people: [ImportedPerson], source: String, by op: Operator, now: Date = Date()) async throws -> Int {
        guard !people.isEmpty else { return 0 }
        let names = try people.map { try Self.checkedName($0.name, externalID: $0.externalID) }, externals = people.map(\.externalID)
        guard Set(externals).count == people.count else { throw CentralError.invalid("the batch names an external id twice") }
        let cipher = self.cipher
        return try await change(by: op) { conn, rev in
            var ids: [String: Int64] = [:]
            let rows = try await conn.query("""
                INSERT INTO person (display_name, external_id, status, created_at, updated_at, revision)
                SELECT n, x, 'active', \(now), \(now), \(rev) FROM unnest(\(names)::text[], \(externals)::text[]) AS u(n, x)
                RETURNING id, external_id
                """, logger: self.logger)
            for try await (id, ext) in rows.decode((Int64, String).self) { ids[ext] = id }
            // bytea arrays are not bindable here: the sealed templates travel as hex.
            var personIDs: [Int64] = [], sealed: [String] = [], models: [String] = []
            for p in people {
                guard let e = p.embedding, let id = ids[p.externalID] else { continue }
                personIDs.append(id); sealed.append(Hex.encode(try cipher.seal(e, personID: id))); models.append(e.modelID)
            }
            if !personIDs.isEmpty {
                try await conn.query("""
                    INSERT INTO face_template (person_id, sealed, model_id, inter_eye_distance, sharpness, yaw, roll, detection_score,
                                               source_sha256, source_name, created_by, created_at, revision)
                    SELECT p, decode(s, 'hex'), m, 0, 0, 0, 0, 0, '', \(source), \(op.name), \(now), \(rev)
                    FROM unnest(\(personIDs)::bigint[], \(sealed)::text[], \(models)::text[]) AS u(p, s, m)
                    """, logger: self.logger)
            }
            return (people.count, AuditEvent.admin("admin.people_import", operator: op.name, subject: "people",
                                                    detail: ["people": String(people.count), "templates": String(personIDs.count), "source": source], at: now))
        }
    }
}
