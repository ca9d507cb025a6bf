import Foundation
import FaceKit
import GRDB
import WardenCore

public struct TemplateRepository: Sendable {
    let writer: DatabasePool
    let changes: ChangeWriter
    let cipher: TemplateCipher

    /// Stores a template. `template.embedding` holds the plain serialised embedding; it is
    /// encrypted before it reaches the database.
    public func add(_ template: FaceTemplate, by op: Operator) throws -> FaceTemplate {
        let plain = try Embedding(serialized: [UInt8](template.embedding))
        return try changes.write { db, journal in
            guard try Person.fetchOne(db, key: template.personId) != nil else { throw StorageError.notFound("no person #\(template.personId)") }
            var t = template
            t.embedding = try cipher.seal(plain, personID: template.personId)
            try t.insert(db)
            try journal.record("template.enroll", subject: "person:\(t.personId)",
                               fields: ["template": String(t.id!), "source": t.sourceName, "source_sha256": t.sourceSHA256], by: op, in: db)
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
        try changes.write { db, journal in
            guard let t = try FaceTemplate.fetchOne(db, key: id) else { throw StorageError.notFound("no template #\(id)") }
            _ = try FaceTemplate.deleteOne(db, key: id)
            try journal.record("template.delete", subject: "person:\(t.personId)", fields: ["template": String(id)], by: op, in: db)
        }
    }
}

extension TemplateRepository {
    /// The template's embedding, decrypted and checked against its person and model.
    public func embedding(of t: FaceTemplate) throws -> Embedding {
        try cipher.open(t.embedding, personID: t.personId, modelID: t.modelID)
    }
}
