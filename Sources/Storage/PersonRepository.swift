import Foundation
import GRDB
import WardenCore

/// People: add, find, list, suspend, remove. Each change is recorded with its operator in
/// the same transaction as the change itself.
public struct PersonRepository: Sendable {
    let writer: DatabasePool
    let changes: ChangeWriter

    public func add(_ person: Person, by op: Operator) throws -> Person {
        let name = person.displayName.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw StorageError.invalid("a person needs a non-empty name") }
        if let problem = DisplayText.problem(name, as: "a name") { throw StorageError.invalid(problem) }
        if let ext = person.externalID, let problem = DisplayText.problem(ext, as: "an external id", maxLength: 100) { throw StorageError.invalid(problem) }
        if let from = person.validFrom, let until = person.validUntil, until <= from {
            throw StorageError.invalid("valid-until must be after valid-from")
        }
        return try changes.write { db, journal in
            if let ext = person.externalID, try Person.filter(Column("externalID") == ext).fetchOne(db) != nil {
                throw StorageError.conflict("external id '\(ext)' already belongs to someone")
            }
            var p = person
            p.displayName = name
            try p.insert(db)
            try journal.record("person.add", subject: "person:\(p.id!)", fields: ["name": name, "external_id": p.externalID ?? ""], by: op, in: db)
            return p
        }
    }

    public func get(_ id: Int64) throws -> Person? { try writer.read { try Person.fetchOne($0, key: id) } }

    /// Finds a person by `#ID` or a bare number (the Warden id), an external id, or an exact
    /// display name. A name shared by two people is refused as ambiguous.
    public func find(_ reference: String) throws -> Person {
        try writer.read { db in
            let ref = reference.trimmingCharacters(in: .whitespaces)
            let numeric = ref.hasPrefix("#") ? String(ref.dropFirst()) : ref
            if let id = Int64(numeric), let p = try Person.fetchOne(db, key: id) { return p }
            if let p = try Person.filter(Column("externalID") == ref).fetchOne(db) { return p }
            let byName = try Person.filter(Column("displayName") == ref).fetchAll(db)
            if byName.count == 1 { return byName[0] }
            if byName.count > 1 {
                throw StorageError.conflict("\(byName.count) people are named '\(ref)' (ids \(byName.compactMap(\.id).map(String.init).joined(separator: ", "))); use the id")
            }
            throw StorageError.notFound("no person '\(ref)' (give a Warden id, an external id or an exact name; `warden person list` shows them)")
        }
    }

    public func list(status: PersonStatus? = nil) throws -> [Person] {
        try writer.read { db in
            var q = Person.order(Column("id"))
            if let status { q = q.filter(Column("status") == status.rawValue) }
            return try q.fetchAll(db)
        }
    }

    public func setStatus(_ id: Int64, to status: PersonStatus, by op: Operator, at now: Date = Date()) throws -> Person {
        try changes.write { db, journal in
            guard var p = try Person.fetchOne(db, key: id) else { throw StorageError.notFound("no person #\(id)") }
            p.status = status
            p.updatedAt = now
            try p.update(db)
            try journal.record("person.\(status == .active ? "activate" : "suspend")", subject: "person:\(id)", by: op, at: now, in: db)
            return p
        }
    }

    public struct Removal: Sendable, Equatable {
        public let person: Person
        public let templatesDeleted: Int
        public let badgesDeleted: Int
    }

    /// Deletes the person and, for good, every template and badge of theirs ("right to be
    /// forgotten"). The change record keeps only the id and name, never biometric data.
    public func remove(_ id: Int64, by op: Operator) throws -> Removal {
        try changes.write { db, journal in
            guard let p = try Person.fetchOne(db, key: id) else { throw StorageError.notFound("no person #\(id)") }
            let templates = try FaceTemplate.filter(Column("personId") == id).fetchCount(db)
            let badges = try Badge.filter(Column("personId") == id).fetchCount(db)
            _ = try Person.deleteOne(db, key: id)  // templates, badges, memberships cascade
            try journal.record("person.remove", subject: "person:\(id)",
                               fields: ["name": p.displayName, "templates_deleted": String(templates), "badges_deleted": String(badges)], by: op, in: db)
            return Removal(person: p, templatesDeleted: templates, badgesDeleted: badges)
        }
    }
}

public struct AdminChangeRepository: Sendable {
    let writer: DatabasePool

    public func recent(limit: Int = 100) throws -> [AdminChange] {
        try writer.read { try AdminChange.order(Column("id").desc).limit(limit).fetchAll($0) }
    }

    public func all() throws -> [AdminChange] { try writer.read { try AdminChange.order(Column("id")).fetchAll($0) } }
}
