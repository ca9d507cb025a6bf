import Foundation
import GRDB
import WardenCore

public struct BadgeRepository: Sendable {
    let writer: DatabasePool
    let changes: ChangeWriter

    /// Issues a credential to a person. An active badge with the same credential is a
    /// conflict: revoke it first.
    public func issue(_ credential: BadgeCredential, to personID: Int64, by op: Operator, at now: Date = Date()) throws -> Badge {
        try changes.write { db, journal in
            guard try Person.fetchOne(db, key: personID) != nil else { throw StorageError.notFound("no person #\(personID)") }
            if let existing = try activeBadge(credential, db) {
                throw StorageError.conflict("badge \(credential) (\(credential.format.rawValue)) is already active for person #\(existing.personId); revoke it first")
            }
            var badge = Badge(personId: personID, credential: credential, at: now)
            try badge.insert(db)
            try journal.record("badge.issue", subject: "person:\(personID)",
                               fields: ["badge": credential.description, "format": credential.format.rawValue, "badge_id": String(badge.id!)], by: op, at: now, in: db)
            return badge
        }
    }

    public func revoke(_ credential: BadgeCredential, by op: Operator, at now: Date = Date()) throws -> Badge {
        try changes.write { db, journal in
            guard var badge = try activeBadge(credential, db) else {
                throw StorageError.notFound("no active badge \(credential) (\(credential.format.rawValue))")
            }
            badge.status = .revoked
            badge.revokedAt = now
            try badge.update(db)
            try journal.record("badge.revoke", subject: "person:\(badge.personId)",
                               fields: ["badge": credential.description, "format": credential.format.rawValue, "badge_id": String(badge.id!)], by: op, at: now, in: db)
            return badge
        }
    }

    /// The badge for a credential: the active one if any, else the most recently revoked one
    /// (so a revoked card can be reported as revoked rather than unknown).
    public func lookup(_ credential: BadgeCredential) throws -> Badge? {
        try writer.read { db in
            if let active = try activeBadge(credential, db) { return active }
            return try Badge.filter(Column("format") == credential.format.rawValue && Column("facilityCode") == credential.facilityCode
                                    && Column("cardNumber") == credential.cardNumber)
                .order(Column("id").desc).fetchOne(db)
        }
    }

    public func list(personID: Int64? = nil) throws -> [Badge] {
        try writer.read { db in
            var q = Badge.order(Column("id"))
            if let personID { q = q.filter(Column("personId") == personID) }
            return try q.fetchAll(db)
        }
    }

    private func activeBadge(_ c: BadgeCredential, _ db: Database) throws -> Badge? {
        try Badge.filter(Column("format") == c.format.rawValue && Column("facilityCode") == c.facilityCode
                         && Column("cardNumber") == c.cardNumber && Column("status") == BadgeStatus.active.rawValue).fetchOne(db)
    }
}
