import FaceKit
import Matching
import Storage

extension Gallery {
    /// Builds the search gallery from every stored template of `modelID`. Templates that fail
    /// to decode are skipped and reported, never matched against.
    public static func load(from db: WardenDatabase, modelID: String = ModelSet.recognitionModelID,
                            head: MetricHead? = nil) throws -> (gallery: Gallery, unreadable: [Int64]) {
        var gallery = Gallery(modelID: modelID, head: head)
        var unreadable: [Int64] = []
        let templates = try db.templates.all(modelID: modelID)
        gallery.reserveCapacity(templates.count)
        for t in templates {
            guard let id = t.id, let e = try? db.templates.embedding(of: t) else { unreadable.append(t.id ?? -1); continue }
            try gallery.add(templateID: id, personID: t.personId, embedding: e)
        }
        return (gallery, unreadable)
    }
}
