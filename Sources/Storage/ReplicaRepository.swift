import FaceKit
import Foundation
import GRDB
import WardenCore

/// One batch of changes from the fleet server, in Storage's own records (ids are the
/// server's, so `person:17` names the same person on every board). Applied in one
/// transaction: all of it or none of it.
public struct ReplicaBatch: Sendable {
    public enum Upsert: Sendable {
        case person(Person), group(PersonGroup, members: [Int64]), badge(Badge), template(FaceTemplate), grant(AccessGrant)
    }
    public enum Kind: String, Sendable { case person, group, badge, template, grant }

    /// A snapshot replaces everything the replica holds.
    public var snapshot: Bool
    /// The revision this batch brings the replica to.
    public var revision: Int64
    public var upserts: [Upsert]
    public var deletions: [(Kind, Int64)]

    /// The change feed the revision belongs to (nil from a server that names none).
    public var feed: String?
    public init(snapshot: Bool, revision: Int64, upserts: [Upsert], deletions: [(Kind, Int64)], feed: String? = nil) {
        self.snapshot = snapshot; self.revision = revision; self.upserts = upserts; self.deletions = deletions; self.feed = feed
    }
}

/// A controller's local copy of the fleet's people, badges, templates, groups and grants.
/// The door decides from it alone, so a lost link changes nothing at the door.
public struct ReplicaRepository: Sendable {
    let writer: DatabasePool
    let changes: ChangeWriter
    let cipher: TemplateCipher

    /// The fleet revision the replica holds (0: none yet).
    public func appliedRevision() throws -> Int64 {
        try writer.read { db in
            guard try db.tableExists("fleetReplica") else { return 0 }
            return try Int64.fetchOne(db, sql: "SELECT revision FROM fleetReplica WHERE id = 1") ?? 0
        }
    }

    /// The change feed the replica's revision belongs to (nil: none named yet).
    public func appliedFeed() throws -> String? {
        try writer.read { db in
            guard try db.tableExists("fleetReplica") else { return nil }
            return try String.fetchOne(db, sql: "SELECT feed FROM fleetReplica WHERE id = 1")
        }
    }

    /// Applies a batch in one transaction, with one audit event for it (`fleet.apply`).
    /// Templates arrive as plain embeddings and are sealed under this board's key.
    /// Deletions go first (children before parents), then upserts, parents first.
    @discardableResult
    public func apply(_ batch: ReplicaBatch, by op: Operator = Operator("fleet")) throws -> Int64 {
        try changes.write { db, journal in
            let current = try Int64.fetchOne(db, sql: "SELECT revision FROM fleetReplica WHERE id = 1") ?? 0
            guard batch.snapshot || batch.revision >= current else {
                throw StorageError.conflict("the replica is at revision \(current); a batch through \(batch.revision) is older")
            }
            if batch.snapshot {
                for t in ["accessGrant", "groupMembership", "personGroup", "faceTemplate", "badge", "person"] { try db.execute(sql: "DELETE FROM \(t)") }
            }
            for (kind, id) in batch.deletions.sorted(by: { Self.deleteOrder($0.0) < Self.deleteOrder($1.0) }) {
                switch kind {
                case .person: _ = try Person.deleteOne(db, key: id)
                case .group: _ = try PersonGroup.deleteOne(db, key: id)
                case .badge: _ = try Badge.deleteOne(db, key: id)
                case .template: _ = try FaceTemplate.deleteOne(db, key: id)
                case .grant: _ = try AccessGrant.deleteOne(db, key: id)
                }
            }
            var counts: [String: Int] = [:]
            for u in batch.upserts.sorted(by: { Self.upsertOrder($0) < Self.upsertOrder($1) }) {
                switch u {
                case .person(var p): try p.upsert(db); counts["people", default: 0] += 1
                case .group(var g, let members):
                    try g.upsert(db)
                    try db.execute(sql: "DELETE FROM groupMembership WHERE personGroupId = ?", arguments: [g.id])
                    for m in members where try Person.exists(db, key: m) { try GroupMembership(groupID: g.id!, personID: m).insert(db, onConflict: .ignore) }
                    counts["groups", default: 0] += 1
                case .badge(var b):
                    // A credential moved from one badge row to another: the old row is revoked
                    // on the server too, but may arrive later in the same batch.
                    try db.execute(sql: "DELETE FROM badge WHERE format = ? AND facilityCode = ? AND cardNumber = ? AND status = 'active' AND id <> ?",
                                   arguments: [b.format, b.facilityCode, b.cardNumber, b.id])
                    try b.upsert(db); counts["badges", default: 0] += 1
                case .template(var t):
                    let plain = try Embedding(serialized: [UInt8](t.embedding))
                    t.embedding = try cipher.seal(plain, personID: t.personId)
                    try t.upsert(db); counts["templates", default: 0] += 1
                case .grant(var g): try g.upsert(db); counts["grants", default: 0] += 1
                }
            }
            try db.execute(sql: """
                INSERT INTO fleetReplica (id, revision, appliedAt, feed) VALUES (1, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, appliedAt = excluded.appliedAt, feed = coalesce(excluded.feed, fleetReplica.feed)
                """, arguments: [batch.revision, Date(), batch.feed])
            var fields = counts.mapValues(String.init)
            fields["revision"] = String(batch.revision)
            fields["from_revision"] = String(current)
            fields["deletions"] = String(batch.deletions.count)
            if batch.snapshot { fields["snapshot"] = "true" }
            try journal.record("fleet.apply", subject: "replica", fields: fields, by: op, in: db)
            return batch.revision
        }
    }

    static func deleteOrder(_ k: ReplicaBatch.Kind) -> Int {
        switch k { case .grant: 0; case .template: 1; case .badge: 2; case .group: 3; case .person: 4 }
    }
    static func upsertOrder(_ u: ReplicaBatch.Upsert) -> Int {
        switch u { case .person: 0; case .group: 1; case .badge: 2; case .template: 3; case .grant: 4 }
    }
}
