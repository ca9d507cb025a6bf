import Foundation
import GRDB
import WardenCore

/// A grant made from the CLI: a person or a group, a zone, optionally a schedule and an end.
public struct AccessGrant: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "accessGrant"
    public var id: Int64?
    public var personId: Int64?
    public var groupName: String?
    public var zone: String
    public var schedule: String?
    public var until: Date?
    public var createdBy: String
    public var createdAt: Date

    public init(personID: Int64? = nil, groupName: String? = nil, zone: String, schedule: String?, until: Date?, createdBy: String, at: Date = Date()) {
        self.personId = personID; self.groupName = groupName; self.zone = zone; self.schedule = schedule; self.until = until
        self.createdBy = createdBy; self.createdAt = at
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Groups, memberships and CLI grants.
public struct AccessRepository: Sendable {
    let writer: DatabasePool
    let changes: ChangeWriter

    public func createGroup(_ name: String, by op: Operator) throws -> PersonGroup {
        if let problem = DisplayText.problem(name, as: "a group name", maxLength: 100) { throw StorageError.invalid(problem) }
        return try changes.write { db, journal in
            if try PersonGroup.filter(Column("name") == name).fetchOne(db) != nil { throw StorageError.conflict("group '\(name)' already exists") }
            var g = PersonGroup(name: name)
            try g.insert(db)
            try journal.record("group.create", subject: "group:\(name)", by: op, in: db)
            return g
        }
    }

    public func groups() throws -> [PersonGroup] { try writer.read { try PersonGroup.order(Column("name")).fetchAll($0) } }

    /// Adds a person to a group, creating the group row if only the policy files define it.
    public func addMember(_ personID: Int64, to group: String, by op: Operator) throws {
        if let problem = DisplayText.problem(group, as: "a group name", maxLength: 100) { throw StorageError.invalid(problem) }
        try changes.write { db, journal in
            var g = try PersonGroup.filter(Column("name") == group).fetchOne(db)
            if g == nil { var new = PersonGroup(name: group); try new.insert(db); g = new }
            try GroupMembership(groupID: g!.id!, personID: personID).insert(db, onConflict: .ignore)
            try journal.record("group.add_member", subject: "person:\(personID)", fields: ["group": group], by: op, in: db)
        }
    }

    public func removeMember(_ personID: Int64, from group: String, by op: Operator) throws {
        try changes.write { db, journal in
            guard let g = try PersonGroup.filter(Column("name") == group).fetchOne(db),
                  try GroupMembership.filter(Column("personGroupId") == g.id! && Column("personId") == personID).deleteAll(db) > 0 else {
                throw StorageError.notFound("person #\(personID) is not in group '\(group)'")
            }
            try journal.record("group.remove_member", subject: "person:\(personID)", fields: ["group": group], by: op, in: db)
        }
    }

    public func groups(of personID: Int64) throws -> Set<String> {
        try writer.read { db in
            Set(try String.fetchAll(db, sql: """
                SELECT g.name FROM personGroup g JOIN groupMembership m ON m.personGroupId = g.id WHERE m.personId = ?
                """, arguments: [personID]))
        }
    }

    public func members(of group: String) throws -> [Int64] {
        try writer.read { db in
            try Int64.fetchAll(db, sql: "SELECT m.personId FROM groupMembership m JOIN personGroup g ON m.personGroupId = g.id WHERE g.name = ? ORDER BY m.personId",
                               arguments: [group])
        }
    }

    public func addGrant(_ grant: AccessGrant, by op: Operator) throws -> AccessGrant {
        try changes.write { db, journal in
            var g = grant
            try g.insert(db)
            try journal.record("grant.add", subject: g.personId.map { "person:\($0)" } ?? "group:\(g.groupName!)",
                               fields: ["grant": String(g.id!), "zone": g.zone, "schedule": g.schedule ?? "always",
                                        "until": g.until.map { ISO8601DateFormatter().string(from: $0) } ?? ""], by: op, in: db)
            return g
        }
    }

    public func grants() throws -> [AccessGrant] { try writer.read { try AccessGrant.order(Column("id")).fetchAll($0) } }

    public func revokeGrant(_ id: Int64, by op: Operator) throws -> AccessGrant {
        try changes.write { db, journal in
            guard let g = try AccessGrant.fetchOne(db, key: id) else { throw StorageError.notFound("no stored grant grant-\(id) (`warden grant list` shows them; grants in policy files are changed there)") }
            _ = try AccessGrant.deleteOne(db, key: id)
            try journal.record("grant.revoke", subject: g.personId.map { "person:\($0)" } ?? "group:\(g.groupName!)",
                               fields: ["grant": String(id), "zone": g.zone], by: op, in: db)
            return g
        }
    }
}

extension WardenDatabase {
    public var access: AccessRepository { AccessRepository(writer: writer, changes: changeWriter) }
}
