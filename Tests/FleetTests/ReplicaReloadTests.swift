import FaceKit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Testing
import WardenCore

/// What a fleet change asks the door loop to read again: the gallery (every template
/// decrypted) only when templates or people came or went, not for one badge or one grant.
@Suite(.serialized) struct ReplicaReloadTests {
    @Test func aBadgeChangeKeepsTheGalleryAndATemplateReloadsIt() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        try await h.whileRunning {
            let admin = Operator("test-admin")
            let board = try await h.joinedController("b1")
            let person = try await h.central { try await $0.addPerson(name: "Ada", externalID: "E1", validFrom: nil, validUntil: nil, by: admin) }
            while try await board.agent.syncOnce() > 0 {}
            // The first sync is a snapshot: everything.
            #expect(board.agent.takeReloadRequest() == .everything)
            #expect(board.agent.takeReloadRequest() == nil, "a request is taken once")

            try await h.central { store in
                _ = try await store.issueBadge(try BadgeCredential(parsing: "12:3003"), to: person.id, by: admin)
                _ = try await store.addGrant(personID: person.id, group: nil, zone: "office", schedule: nil, until: nil, by: admin)
            }
            while try await board.agent.syncOnce() > 0 {}
            #expect(board.agent.takeReloadRequest() == ReloadScope(gallery: false))

            try await h.central { store in
                _ = try await store.addTemplate(TemplateRecordWire(id: 0, personID: person.id, embedding: Data(FleetTests.embedding(7).serialized()),
                                                                   modelID: ModelSet.recognitionModelID, interEyeDistance: 40, sharpness: 1, yaw: 0, roll: 0,
                                                                   detectionScore: 1, sourceSHA256: "x", sourceName: "a.jpg", createdBy: admin.name, createdAt: Date()), by: admin)
            }
            while try await board.agent.syncOnce() > 0 {}
            #expect(board.agent.takeReloadRequest() == ReloadScope(gallery: true))

            // A person removed takes their templates with them.
            _ = try await h.central { try await $0.removePerson(person.id, by: admin) }
            while try await board.agent.syncOnce() > 0 {}
            #expect(board.agent.takeReloadRequest() == ReloadScope(gallery: true))
        }
    }
}
