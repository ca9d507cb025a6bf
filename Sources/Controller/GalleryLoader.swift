import FaceKit
import Foundation
import Matching
import Storage
import WardenCore

/// Templates that are stored but cannot be opened: a wrong or replaced key, a damaged row.
public struct UnreadableTemplates: Error, CustomStringConvertible {
    public let templateIDs: [Int64]
    public let reason: String
    public var description: String {
        "\(counted(templateIDs.count, "stored template")) cannot be opened (#\(templateIDs.prefix(5).map(String.init).joined(separator: ", #"))"
            + (templateIDs.count > 5 ? ", ..." : "") + "): \(reason). The gallery is not loaded without them: people would be "
            + "refused as strangers with no word why. Restore the key the templates were sealed with, or remove and re-enroll those people."
    }
}

extension Gallery {
    /// Builds the search gallery from every stored template of `modelID`. A template that
    /// cannot be opened is an error, never a silent drop.
    public static func load(from db: WardenDatabase, modelID: String = ModelSet.recognitionModelID,
                            head: MetricHead? = nil) throws -> Gallery {
        var gallery = Gallery(modelID: modelID, head: head)
        var unreadable: [Int64] = []
        var firstReason = ""
        let templates = try db.templates.all(modelID: modelID)
        gallery.reserveCapacity(templates.count)
        for t in templates {
            do {
                try gallery.add(templateID: t.id!, personID: t.personId, embedding: try db.templates.embedding(of: t))
                if t.createdBy == TemplateUpdateRule.creator { gallery.markAdded(templateID: t.id!) }
            } catch {
                if unreadable.isEmpty { firstReason = "\(error)" }
                unreadable.append(t.id ?? -1)
            }
        }
        if !unreadable.isEmpty { throw UnreadableTemplates(templateIDs: unreadable, reason: firstReason) }
        return gallery
    }
}
