import DoorIO
import Foundation
import OSDP
import OSDPTestPeer
import Testing

/// The control panel (libosdp through CLibOSDP) against libosdp's own PD over a pty.
@Suite("OSDP bus against libosdp's PD", .serialized, .enabled(if: ReaderPeer.available, "needs the OSDP test peer from `make setup` (.cache/osdp-peer)"))
struct OSDPBusTests {
    static let keyHex = "00112233445566778899aabbccddeeff"
    static let key = OSDPKey(bytes: stride(from: 0, to: 32, by: 2).map { i in UInt8(keyHex.dropFirst(i).prefix(2), radix: 16)! })!
    static let wrongKey = OSDPKey(bytes: Array(repeating: 0x5A, count: 16))!

    func bus(_ peer: ReaderPeer, _ readers: [(Int, OSDPKey)]) throws -> OSDPBus {
        let b = try OSDPBus(port: peer.pty, baud: 115200, readers: readers.map { OSDPReaderSetup(address: $0.0, security: .secure($0.1), formats: WiegandFormat.standard) })
        b.start()
        return b
    }

    /// A peer with one reader under `key`, a bus to it, and the reader once it is online
    /// under Secure Channel (the caller stops the bus).
    func onlineReader() throws -> (ReaderPeer, OSDPBus, OSDPReader) {
        let peer = try ReaderPeer(readers: ["1:\(Self.keyHex)"])
        let b = try bus(peer, [(1, Self.key)])
        let reader = try #require(b.reader(address: 1))
        var seen: [ReaderInput] = []
        #expect(gather(reader, into: &seen) { $0.contains(.online(secure: true)) }, "\(seen) \(b.counters)")
        return (peer, b, reader)
    }

    /// Inputs gathered from a reader until `condition` holds of everything seen so far.
    func gather(_ reader: OSDPReader, into seen: inout [ReaderInput], seconds: Double = 30, until condition: ([ReaderInput]) -> Bool) -> Bool {
        var all = seen
        let ok = ReaderPeer.waitUntil(seconds: seconds) { all += reader.takeInputs(); return condition(all) }
        seen = all
        return ok
    }

    @Test func aCardAndKeysUnderSecureChannelAndTheLEDShowsTheOutcome() throws {
        let (peer, b, reader) = try onlineReader()
        defer { b.stop() }
        var seen: [ReaderInput] = []
        #expect(b.readerStatuses.first?.secure == true)
        #expect(b.readerStatuses.first?.serialNumber == 0x1001, "the reader's ID report: \(b.readerStatuses)")

        try peer.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        try peer.send(["op": "keys", "address": 1, "keys": "1234"])
        try peer.send(["op": "status", "address": 1, "tamper": 1, "power": 0])
        #expect(gather(reader, into: &seen) { $0.contains(.tamper(true)) && $0.contains(.keypad("1234")) && $0.contains { if case .card = $0 { true } else { false } } }, "\(seen)")
        #expect(seen.contains(.card(.card(format: "H10301", facility: 12, card: 1001))), "\(seen)")

        // Denied: red flashing and two beeps; the resting LED (steady red) came first.
        reader.signal(.denied)
        #expect(ReaderPeer.waitUntil { peer.commands(address: 1).contains { $0["command"] as? Int == 3 } }, "\(peer.commands(address: 1))")
        let leds = peer.commands(address: 1).filter { $0["command"] as? Int == 2 }
        #expect(leds.count >= 2 && leds.allSatisfy { $0["on_color"] as? Int == 1 }, "\(leds)")
        reader.signal(.granted(seconds: 2))
        #expect(ReaderPeer.waitUntil { peer.commands(address: 1).contains { $0["command"] as? Int == 2 && $0["on_color"] as? Int == 2 } })
    }

    /// A reader under another key is refused and never spoken to in plain text: it gets
    /// no command at all, and the bus says why.
    @Test func aReaderWithTheWrongKeyIsRefusedAndNeverUsedInPlainText() throws {
        let peer = try ReaderPeer(readers: ["1:\(Self.keyHex)"])
        let b = try bus(peer, [(1, Self.wrongKey)])
        defer { b.stop() }
        let reader = try #require(b.reader(address: 1))
        var seen: [ReaderInput] = []
        #expect(gather(reader, into: &seen) { $0.contains { if case .secureChannelRefused = $0 { true } else { false } } }, "\(seen) \(b.counters)")
        try peer.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        usleep(1_500_000)  // not a timing assertion: time for a card that must not arrive
        seen += reader.takeInputs()
        #expect(!seen.contains { if case .online = $0 { true } else if case .card = $0 { true } else { false } }, "\(seen)")
        #expect(peer.commands(address: 1).isEmpty, "\(peer.commands(address: 1))")
        #expect(b.counters.secureChannelFailures >= 1)
        #expect(b.readerStatuses.first?.online == false)
    }

    /// The CP's challenge (RND.A, sent in clear in osdp_CHLNG) differs between two starts:
    /// libosdp's stock backend drew it from an unseeded rand(), the same on every start.
    @Test func theSecureChannelChallengeDiffersBetweenTwoStarts() throws {
        var challenges: [String] = []
        for _ in 0..<2 {
            let peer = try ReaderPeer(readers: ["1:\(Self.keyHex)"])
            let b = try bus(peer, [(1, Self.key)])
            #expect(ReaderPeer.waitUntil { peer.events.contains { $0["event"] as? String == "challenge" } })
            challenges += peer.events.filter { $0["event"] as? String == "challenge" }.compactMap { $0["rnd"] as? String }.prefix(1)
            b.stop()
        }
        #expect(challenges.count == 2)
        #expect(Set(challenges).count == 2, "\(challenges)")
        #expect(challenges.allSatisfy { $0 != "0000000000000000" })
    }

    @Test func twoReadersAtTwoAddressesOnOneBus() throws {
        let peer = try ReaderPeer(readers: ["1:\(Self.keyHex)", "2:ffeeddccbbaa99887766554433221100"])
        let second = OSDPKey(bytes: Array(Self.key.bytes.reversed()))!
        let b = try bus(peer, [(1, Self.key), (2, second)])
        defer { b.stop() }
        let r1 = try #require(b.reader(address: 1)), r2 = try #require(b.reader(address: 2))
        var s1: [ReaderInput] = [], s2: [ReaderInput] = []
        #expect(gather(r1, into: &s1) { $0.contains(.online(secure: true)) })
        #expect(gather(r2, into: &s2) { $0.contains(.online(secure: true)) })
        try peer.send(["op": "card", "address": 2, "bits": ReaderPeer.h10301(facility: 7, card: 2002)])
        #expect(gather(r2, into: &s2) { $0.contains(.card(.card(format: "H10301", facility: 7, card: 2002))) }, "\(s2)")
        #expect(!r1.takeInputs().contains { if case .card = $0 { true } else { false } }, "the card was read at address 2 only")
    }

    /// Garbage on the line is rejected and counted; the reader stays usable.
    @Test func noiseOnTheLineIsRejectedAndCounted() throws {
        let (peer, b, reader) = try onlineReader()
        defer { b.stop() }
        var seen: [ReaderInput] = []
        for _ in 0..<5 { try peer.send(["op": "noise", "bytes": 400]); usleep(100_000) }
        #expect(ReaderPeer.waitUntil { b.counters.framesRejected + b.counters.bytesSkipped > 0 }, "\(b.counters)")
        seen = []
        try peer.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        #expect(gather(reader, into: &seen) { $0.contains(.card(.card(format: "H10301", facility: 12, card: 1001))) }, "\(seen) \(b.counters)")
    }

    /// A reader unplugged goes offline; plugged back (rebooted), it is online again within
    /// seconds, not libosdp's 300 s (the wait's 60 s bound would fail on that), and its
    /// resting LED is sent again.
    @Test func aReaderUnpluggedAndReplugedIsBackAndItsLEDIsResent() throws {
        let (peer, b, reader) = try onlineReader()
        defer { b.stop() }
        var seen: [ReaderInput] = []
        #expect(ReaderPeer.waitUntil { peer.commands(address: 1).contains { $0["command"] as? Int == 2 } })
        try peer.send(["op": "unplug", "address": 1])
        seen = []
        #expect(gather(reader, into: &seen, seconds: 60) { $0.contains { if case .offline = $0 { true } else { false } } }, "\(seen)")
        let ledsBefore = peer.commands(address: 1).filter { $0["command"] as? Int == 2 }.count
        try peer.send(["op": "replug", "address": 1])
        #expect(gather(reader, into: &seen, seconds: 60) { $0.contains(.online(secure: true)) }, "\(seen)")
        #expect(ReaderPeer.waitUntil { peer.commands(address: 1).filter { $0["command"] as? Int == 2 }.count > ledsBefore })
    }
}
