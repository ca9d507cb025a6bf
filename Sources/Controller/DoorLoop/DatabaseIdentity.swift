import Foundation
import WardenCore
import Policy
import Storage

/// The identity port on the board's SQLite database (a fleet board's replica included).
public final class DatabaseIdentity: IdentitySnapshot {
    let db: WardenDatabase
    public init(db: WardenDatabase) { self.db = db }

    public func badge(_ credential: BadgeCredential) throws -> BadgeLookup {
        guard let badge = try db.badges.lookup(credential), let holder = try person(badge.personId) else { return .notIssued }
        return badge.status == .revoked ? .revoked(holder) : .issued(holder)
    }

    public func person(_ id: Int64) throws -> PersonAtDoor? {
        guard let p = try db.people.get(id) else { return nil }
        return PersonAtDoor(person: p, groups: try db.access.groups(of: id))
    }

    public func isEligible(_ id: Int64, at time: Date) -> Bool { (try? db.people.get(id))?.isEligible(at: time) ?? false }
}
