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
        try addAll([template], by: op)[0]
    }

    /// Stores several templates as one change: all of them or none (a camera capture's
    /// set), each with its own record.
    public func addAll(_ templates: [FaceTemplate], by op: Operator) throws -> [FaceTemplate] {
        let plain = try templates.map { try Embedding(serialized: [UInt8]($0.embedding)) }
        return try changes.write { db, journal in
            var out: [FaceTemplate] = []
            for (template, embedding) in zip(templates, plain) {
                guard try Person.fetchOne(db, key: template.personId) != nil else { throw StorageError.notFound("no person #\(template.personId)") }
                var t = template
                t.embedding = try cipher.seal(embedding, personID: template.personId)
                try t.insert(db)
                try journal.record("template.enroll", subject: "person:\(t.personId)",
                                   fields: ["template": String(t.id!), "source": t.sourceName, "source_sha256": t.sourceSHA256], by: op, in: db)
                out.append(t)
            }
            return out
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
