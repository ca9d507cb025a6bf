import Foundation
import FaceKit
import GRDB
import WardenCore

public struct TemplateRepository: Sendable {
    let writer: DatabasePool
    let cipher: TemplateCipher

    /// Stores a template. `template.embedding` holds the plain serialised embedding; it is
    /// encrypted before it reaches the database.
    public func add(_ template: FaceTemplate, by op: Operator) throws -> FaceTemplate {
        let plain = try Embedding(serialized: [UInt8](template.embedding))
        return try writer.write { db in
            guard try Person.fetchOne(db, key: template.personId) != nil else { throw StorageError.notFound("no person #\(template.personId)") }
            var t = template
            t.embedding = try cipher.seal(plain, personID: template.personId)
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

extension TemplateRepository {
    /// The template's embedding, decrypted and checked against its person and model.
    public func embedding(of t: FaceTemplate) throws -> Embedding {
        try cipher.open(t.embedding, personID: t.personId, modelID: t.modelID)
    }
}
