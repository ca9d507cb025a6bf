import Audit
import FaceKit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Storage
import Testing
import WardenCore

/// The fleet against a real PostgreSQL and a real HTTPS server with mutual TLS, in process.
/// Serialized: each test starts its own PostgreSQL, and two at once would only compete for
/// the two cores.
@Suite(.serialized) struct FleetTests {
    static func embedding(_ seed: Int) -> Embedding {
        var g = SplitMix64(seed: UInt64(seed))
        return try! Embedding(raw: (0..<128).map { _ in Float(Double(g.next() >> 11) / Double(1 << 53) - 0.5) })
    }

    @Test func aTokenJoinsOnceAndThenIsRefused() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let token = try await h.token(for: "lobby-board")
        let home1 = h.root + "/one", home2 = h.root + "/two"
        let m = try await FleetMembership.join(server: h.url, token: token.description, home: home1, wardenVersion: "test")
        #expect(m.settings.controller == "lobby-board")
        await #expect { try await FleetMembership.join(server: h.url, token: token.description, home: home2, wardenVersion: "test") } throws: { e in
            "\(e)".contains("already used")
        }
        // An expired token.
        let short = try await h.token(for: "late-board", lifetime: 1)
        try await Task.sleep(for: .milliseconds(1200))
        await #expect { try await FleetMembership.join(server: h.url, token: short.description, home: home2, wardenVersion: "test") } throws: { e in
            "\(e)".contains("expired")
        }
        // A token pinned to another CA: refused by the board before it sends anything.
        let foreign = JoinToken(id: token.id, secret: token.secret, caFingerprint: String(repeating: "ab", count: 32))
        await #expect { try await FleetMembership.join(server: h.url, token: foreign.description, home: home2, wardenVersion: "test") } throws: { e in
            "\(e)".contains("Nothing was sent")
        }
        await h.destroy()
    }

    @Test func aRevokedControllerAndAForeignCertificateAreRefused() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("door-1")
        try await board.agent.heartbeatOnce()
        try await h.central { try await $0.revokeController("door-1", by: Operator("test-admin")) }
        await #expect { try await board.agent.heartbeatOnce() } throws: { e in "\(e)".contains("revoked") }
        // A certificate signed by another CA never gets past the handshake.
        let other = try SiteCA.create(siteName: "elsewhere")
        let key = try ControllerKey.makeRequest(name: "intruder")
        let cert = try other.signController(csrPEM: key.csrPEM, name: "intruder")
        let transport = try HTTPSFleetTransport(server: h.url, identity: KeyAndCertificate(privateKeyPEM: key.privateKeyPEM, certificatePEM: cert),
                                                trustedCA: try h.serverHome.siteCA().pem.certificatePEM)
        await #expect { _ = try await transport.get(FleetPath.changes, query: ["since": "0"], timeout: .seconds(5)) } throws: { e in
            if case FleetLinkError.unreachable(let why) = e { return why.contains("TLS") || why.contains("SSL") || why.contains("certificate") || why.contains("closed") }
            return false
        }
        await transport.shutdown()
        await h.destroy()
    }

    @Test func changesAtTheServerReachTheReplica() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("door-2")
        let admin = Operator("test-admin")
        let (person, badge) = try await h.central { store in
            let p = try await store.addPerson(name: "Ada Lovelace", externalID: "E-1", validFrom: nil, validUntil: nil, by: admin)
            let b = try await store.issueBadge(try BadgeCredential(parsing: "12:3456"), to: p.id, by: admin)
            _ = try await store.addTemplate(TemplateRecordWire(id: 0, personID: p.id, embedding: Data(Self.embedding(1).serialized()), modelID: ModelSet.recognitionModelID,
                                                               interEyeDistance: 40, sharpness: 1, yaw: 0, roll: 0, detectionScore: 1, sourceSHA256: "x", sourceName: "a.jpg",
                                                               createdBy: admin.name, createdAt: Date()), by: admin)
            _ = try await store.addGrant(personID: p.id, group: nil, zone: "office", schedule: nil, until: nil, by: admin)
            _ = try await store.putConfiguration(.policy, files: ["site.yaml": "name: test\n"], by: admin)
            return (p, b)
        }
        try await board.agent.syncOnce()
        let replicated = try board.db.people.get(person.id)
        #expect(replicated?.displayName == "Ada Lovelace")
        #expect(try board.db.badges.list(personID: person.id).map(\.id) == [badge.id])
        #expect(try board.db.templates.forPerson(person.id).count == 1)
        let t = try #require(try board.db.templates.forPerson(person.id).first)
        #expect(try board.db.templates.embedding(of: t) == Self.embedding(1))
        #expect(try String(contentsOfFile: board.agent.membership.policyDirectory + "/site.yaml", encoding: .utf8) == "name: test\n")
        let applied = try board.db.replica.appliedRevision()
        #expect(applied == (try await h.central { try await $0.currentRevision() }))
        // Revoke the badge, then remove the person: each arrives, and nothing is left behind.
        _ = try await h.central { try await $0.revokeBadge(try BadgeCredential(parsing: "12:3456"), by: admin) }
        try await board.agent.syncOnce()
        #expect(try board.db.badges.lookup(try BadgeCredential(parsing: "12:3456"))?.status == .revoked)
        _ = try await h.central { try await $0.removePerson(person.id, by: admin) }
        try await board.agent.syncOnce()
        #expect(try board.db.people.get(person.id) == nil)
        #expect(try board.db.templates.count() == 0)
        // Each batch applied is one recorded change on the board; the server's changes are in its chain.
        let applies = try board.db.changes.all().filter { $0.action == "fleet.apply" }
        #expect(applies.count == 3)
        #expect(applies.first?.detail.contains("snapshot=true") == true)
        let reports = try await h.central { try await $0.verifyChains() }
        #expect(reports.first { $0.controller == "@server" }?.problems == [])
        #expect((reports.first { $0.controller == "@server" }?.rows ?? 0) >= 8)
        await h.destroy()
    }

    @Test func eventsUploadInOrderAcrossAServerRestartWithoutLossOrDuplicates() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("door-3")
        for i in 0..<50 { try board.audit.append([AuditEvent(kind: .door, type: "door.opened", door: "lobby", detail: ["i": String(i)])]) }
        var ack = try await board.agent.uploadOnce(limit: 20)
        #expect(ack.highWater == 20)
        // The server goes away: the board notices, keeps its rows, and says so in its log.
        await h.stopServer()
        await #expect { try await board.agent.uploadOnce() } throws: { _ in true }
        #expect(board.recorded.types.contains("fleet.link_lost"))
        #expect(!board.agent.linkStatus.connected)
        for i in 50..<60 { try board.audit.append([AuditEvent(kind: .door, type: "door.closed", door: "lobby", detail: ["i": String(i)])]) }
        try await h.startServer()
        while true { ack = try await board.agent.uploadOnce(limit: 20); if ack.accepted == 0 { break } }
        #expect(board.recorded.types.contains("fleet.link_restored"))
        let last = try board.audit.lastSeq()
        #expect(ack.highWater == last)
        // An ack lost in transit: the board starts again from an old point; nothing doubles.
        let replay = try FleetAgent(membership: board.agent.membership, transport: try board.agent.membership.transport(), db: board.db, audit: board.audit,
                                    home: board.home, wardenVersion: "test", record: { _ in })
        let again = try await replay.uploadOnce()
        await replay.shutdown()
        #expect(again.highWater == last && again.accepted == 0)
        // Rows sent again as they are (an acknowledgement lost in transit): accepted, not stored twice.
        let resent = try board.audit.rows(after: 0, limit: 20).map { UploadedRow(seq: $0.seq, payload: $0.payload, prevHash: $0.prevHash, hash: $0.hash) }
        let ctl = try #require(try await h.central { try await $0.controllers() }.first { $0.name == "door-3" })
        let dup = try await h.central { try await $0.ingest(EventBatch(rows: resent), from: ctl) }
        #expect(dup.highWater == last && dup.accepted == 0)
        let report = try #require(try await h.central { try await $0.verifyChains() }.first { $0.controller == "door-3" })
        #expect(report.problems == [])
        #expect(report.rows == last)
        var stored: [Int64] = []
        try await h.central { store in
            var seqs: [Int64] = []
            try await store.forEachEvent(controller: "door-3") { _, row in seqs.append(row.seq) }
            return seqs
        }.forEach { stored.append($0) }
        #expect(stored == Array(1...last))
        await h.destroy()
    }

    @Test func aRowChangedAfterUploadIsRefused() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("door-4")
        try board.audit.append([AuditEvent(kind: .door, type: "door.opened", door: "lab")])
        _ = try await board.agent.uploadOnce()
        let row = try #require(try board.audit.rows(after: 0, limit: 1).first)
        let forged = try AuditChain.row(for: AuditEvent(kind: .door, type: "door.closed", door: "lab"), seq: row.seq, prevHash: row.prevHash)
        let ctl = try #require(try await h.central { try await $0.controllers() }.first)
        await #expect { _ = try await h.central { try await $0.ingest(EventBatch(rows: [UploadedRow(seq: forged.seq, payload: forged.payload, prevHash: forged.prevHash, hash: forged.hash)]), from: ctl) } } throws: { e in
            "\(e)".contains("changed after upload")
        }
        // A gap is refused with the point to resume from.
        let gap = try AuditChain.row(for: AuditEvent(kind: .door, type: "door.closed", door: "lab"), seq: 5, prevHash: row.hash)
        await #expect { _ = try await h.central { try await $0.ingest(EventBatch(rows: [UploadedRow(seq: gap.seq, payload: gap.payload, prevHash: gap.prevHash, hash: gap.hash)]), from: ctl) } } throws: { e in
            (e as? UploadGap)?.highWater == 1
        }
        await h.destroy()
    }

    /// The admin API: roles, lock-out after failed attempts (each logged centrally), and the
    /// fleet's audit export and verification over HTTPS.
    @Test func operatorsAreHeldToTheirRolesAndLockedOutAfterFailures() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let board = try await h.joinedController("door-5")
        try board.audit.append([AuditEvent(kind: .door, type: "door.opened", door: "lab")])
        _ = try await board.agent.uploadOnce()
        let admin = Operator("test-admin")
        let (auditor, enroller) = try await h.central { store in
            (try await store.addOperator("audra", role: .auditor, by: admin), try await store.addOperator("enzo", role: .enroller, by: admin))
        }
        let ca = try h.serverHome.siteCA().pem.certificatePEM
        func api(_ token: String) throws -> HTTPSFleetTransport { try HTTPSFleetTransport(server: h.url, identity: nil, trustedCA: ca, headers: [("authorization", "Bearer \(token)")]) }
        // An auditor reads and exports, but adds nobody.
        let a = try api(auditor)
        let export = String(decoding: try await a.get(AdminPath.auditExport, query: ["format": "jsonl", "controller": "door-5"], timeout: .seconds(10)), as: UTF8.self)
        #expect(export.contains("\"controller\":\"door-5\"") && export.contains("door.opened"))
        let chains = try await a.getJSON([CentralChainReport].self, AdminPath.auditVerify)
        #expect(chains.allSatisfy { $0.problems.isEmpty } && chains.contains { $0.controller == "door-5" && $0.rows == 1 })
        await #expect { _ = try await a.postJSON(PersonRecordWire.self, AdminPath.people, AdminPersonAdd(name: "X", externalID: nil, validFrom: nil, validUntil: nil)) } throws: { e in
            if case FleetLinkError.refused(403, let r) = e { return r.error.contains("auditor") }
            return false
        }
        // An enroller adds people, but grants nothing.
        let e = try api(enroller)
        let p = try await e.postJSON(PersonRecordWire.self, AdminPath.people, AdminPersonAdd(name: "Ada", externalID: nil, validFrom: nil, validUntil: nil))
        await #expect { _ = try await e.postJSON(GrantRecordWire.self, AdminPath.grants, AdminGrant(person: "#\(p.id)", group: nil, zone: "office", schedule: nil, until: nil)) } throws: { err in
            if case FleetLinkError.refused(403, _) = err { return true }
            return false
        }
        // Five wrong tokens for a name lock it out, the right one included; each is logged.
        let wrong = try api("wop1.audra." + String(repeating: "0", count: 64))
        for _ in 0..<CentralStore.lockoutFailures {
            await #expect { _ = try await wrong.getJSON([PersonRecordWire].self, AdminPath.people) } throws: { err in
                if case FleetLinkError.refused(401, _) = err { return true }
                return false
            }
        }
        await #expect { _ = try await a.getJSON([PersonRecordWire].self, AdminPath.people) } throws: { err in
            if case FleetLinkError.refused(429, let r) = err { return r.error.contains("locked out") }
            return false
        }
        let failures = try await h.central { store in
            var n = 0
            try await store.forEachEvent(controller: "@server") { _, row in if try AuditChain.event(of: row).type == "admin.login_failed" { n += 1 } }
            return n
        }
        #expect(failures == CentralStore.lockoutFailures)
        for t in [a, e, wrong] { await t.shutdown() }
        await h.destroy()
    }
}
