import Foundation
import FaceKit
import GRDB
import WardenCore

public struct TemplateRepository: Sendable {
    let writer: DatabasePool

    public func add(_ template: FaceTemplate, by op: Operator) throws -> FaceTemplate {
        try writer.write { db in
            guard try Person.fetchOne(db, key: template.personId) != nil else { throw StorageError.notFound("no person #\(template.personId)") }
            var t = template
            try t.insert(db)
            var change = AdminChange(operator: op, action: "template.enroll", subject: "person:\(t.personId)",
                                     detail: "template=\(t.id!) source=\(t.sourceName) sha256=\(t.sourceSHA256.prefix(16))")
            try change.insert(db)
            return t
        }
    }

    public func forPerson(_ personID: Int64) throws -> [FaceTemplate] {
        try writer.read { try FaceTemplate.filter(Column("personId") == personID).order(Column("id")).fetchAll($0) }
    }

    public func count() throws -> Int { try writer.read { try FaceTemplate.fetchCount($0) } }

    /// Every template of one model, for loading the search gallery.
    public func all(modelID: String) throws -> [FaceTemplate] {
        try writer.read { try FaceTemplate.filter(Column("modelID") == modelID).order(Column("id")).fetchAll($0) }
    }

    public func delete(_ id: Int64, by op: Operator) throws {
        try writer.write { db in
            guard let t = try FaceTemplate.fetchOne(db, key: id) else { throw StorageError.notFound("no template #\(id)") }
            _ = try FaceTemplate.deleteOne(db, key: id)
            var change = AdminChange(operator: op, action: "template.delete", subject: "person:\(t.personId)", detail: "template=\(id)")
            try change.insert(db)
        }
    }
}

extension FaceTemplate {
    /// The stored embedding, decoded and checked.
    public func decodedEmbedding() throws -> Embedding { try Embedding(serialized: [UInt8](embedding)) }
}
