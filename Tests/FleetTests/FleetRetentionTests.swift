import Audit
import FleetLink
import FleetProtocol
import Foundation
import Testing
import WardenCore
import Yams

/// What a board holds for the server while the link is down: sized for 120 h of a busy
/// door, alarmed at half, never dropped to make room, and never pruned before the server
/// has acknowledged it.
@Suite(.serialized) struct FleetRetentionTests {
    @Test func theBufferAlarmsAtHalfAndClearsOnlyBelowTheClearLine() {
        func level(_ buffered: Int64, after: FleetBuffer.Level = .normal, free: Int64 = 1 << 40) -> FleetBuffer.Level {
            FleetBuffer(buffered: buffered, ceiling: 1000, freeBytes: free, bytesPerRow: 500).level(after: after)
        }
        #expect(level(499) == .normal)
        #expect(level(500) == .high)
        #expect(level(450, after: .high) == .high)
        #expect(level(399, after: .high) == .normal)
        #expect(level(1000) == .full)
        // A disk with room for 100 more rows of 500 bytes caps the capacity below the ceiling:
        // 200 waiting of 300 is already past half.
        #expect(FleetBuffer(buffered: 200, ceiling: 1000, freeBytes: 50_000, bytesPerRow: 500).capacity == 300)
        #expect(level(200, free: 50_000) == .high)
        #expect(level(200, free: 0) == .full)
    }

    /// The busy door the defaults are sized for, measured: a decision with its face and badge
    /// evidence and the door's open and close, as a real door logs them.
    @Test func theDefaultBufferHolds120HoursOfABusyDoorAndARowsSizeIsMeasured() throws {
        let dir = NSTemporaryDirectory() + "warden-retention-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try AuditStore(home: dir)
        let start = Date()
        let passages = 3000
        for batch in stride(from: 0, to: passages, by: 100) {
            var events: [AuditEvent] = []
            for i in batch..<(batch + 100) {
                let at = start.addingTimeInterval(Double(i) * 1.5)
                let door = ["lobby", "lab", "server-room", "loading-bay"][i % 4]
                events.append(AuditEvent(at: at, kind: .decision, type: "access.granted", door: door, zone: "zone-\(i % 4)", reader: door, camera: "cam-\(door)",
                                         badge: "26:\(100 + i % 50):\(10_000 + i)", personID: Int64(1 + i % 500), personName: "Person Number \(i % 500)",
                                         result: "granted", factors: [FactorResult(factor: "badge", ok: true, detail: "26:\(100 + i % 50):\(10_000 + i)"),
                                                                      FactorResult(factor: "face", ok: true, detail: "4 frames")],
                                         face: FaceEvidence(distance: 0.41, threshold: 0.55, margin: 0.14, quality: 0.8, frames: 4, modelID: "dlib_resnet_v1",
                                                            liveness: LivenessEvidenceRecord(verdict: "live", required: true, scores: [0.97, 0.95], framesRequired: 2, threshold: 0.8)),
                                         rule: "staff-office-hours", reasons: [], doorAction: "released 5 s"))
                events.append(AuditEvent(at: at.addingTimeInterval(1), kind: .door, type: "door.opened", door: door))
                events.append(AuditEvent(at: at.addingTimeInterval(4), kind: .door, type: "door.closed", door: door))
            }
            _ = try store.append(events)
        }
        let f = try store.footprint()
        #expect(f.rows == Int64(passages * 3))
        let perRow = f.bytes / f.rows
        let hours120 = 120 * FleetBuffer.busyRowsPerHour
        print("audit row on disk: \(perRow) bytes (\(f.bytes) bytes for \(f.rows) rows); 120 h of the busy door = \(Int(hours120)) rows = \(Int(hours120) * Int(perRow) / 1_000_000) MB")
        #expect(Double(FleetBuffer.defaultCeiling) >= hours120)
        // The ceiling in bytes stays within a 1 GB share of a board's card.
        #expect(FleetBuffer.defaultCeiling * perRow < 1_000_000_000)
    }

    @Test func aBoardAlarmsBeforeItsBufferIsFullAndClearsOnceUploaded() async throws {
        let h = try FleetHarness()
        try await h.startServer()
        let joined = try await h.joinedController("busy")
        // A small ceiling in fleet.yaml, as a site would set it.
        let yaml = joined.home + "/fleet/fleet.yaml"
        var settings = try YAMLDecoder().decode(FleetMembership.Settings.self, from: try String(contentsOfFile: yaml, encoding: .utf8))
        settings.bufferEvents = 40
        try YAMLEncoder().encode(settings).write(toFile: yaml, atomically: true, encoding: .utf8)
        let membership = try #require(try FleetMembership.load(home: joined.home))
        let sink = EventSink()
        let agent = FleetAgent(membership: membership, transport: try membership.transport(), db: joined.db, audit: joined.audit, home: joined.home,
                               wardenVersion: "test", record: { e in sink.add(e); _ = try? joined.audit.append([e]) })
        await h.stopServer()
        for i in 0..<25 { try joined.audit.append([AuditEvent(kind: .door, type: "door.opened", door: "lobby", detail: ["i": String(i)])]) }
        _ = try? await agent.uploadOnce()
        #expect(sink.types.contains("fleet.buffer_high"), "\(sink.types)")
        #expect(agent.linkStatus.bufferLevel == .high)
        let high = try #require(sink.all.first { $0.type == "fleet.buffer_high" })
        #expect(high.detail?["capacity_events"] == "40")
        for i in 0..<20 { try joined.audit.append([AuditEvent(kind: .door, type: "door.closed", door: "lobby", detail: ["i": String(i)])]) }
        _ = try? await agent.uploadOnce()
        #expect(sink.types.last == "fleet.buffer_full")
        // Past the ceiling the rows are still there: none was dropped to make room.
        #expect(try joined.audit.count() >= 47)
        // The link back: everything goes up, the level returns to normal, and that is logged.
        try await h.startServer()
        while try await agent.uploadOnce().accepted > 0 {}
        #expect(sink.types.last == "fleet.buffer_normal", "\(sink.types)")
        #expect(agent.linkStatus.acknowledgedSeq == membership.acknowledgedSeq())
        await agent.shutdown()
        await h.destroy()
    }
}
