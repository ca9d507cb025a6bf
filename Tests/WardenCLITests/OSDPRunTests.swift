import Audit
import Foundation
import OSDPTestPeer
import Testing
import WardenCore

/// OSDP readers through the real `warden reader install` and `warden run`, against
/// libosdp's own PD (hardware/osdp/reader_peer.py) over a pty.
@Suite("warden run with OSDP readers", .serialized,
       .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`"),
       .enabled(if: ReaderPeer.available, "needs the OSDP test peer from `make setup` (.cache/osdp-peer)"))
struct OSDPRunTests {
    /// The server room's reader is OSDP at address 1 on the peer's pty; the lobby keeps
    /// its simulated lines.
    static func pinMap(port: String, in dir: URL, lobbyAddress: Int? = nil, strikeOnReader: Bool = false) throws -> String {
        let path = dir.appendingPathComponent("osdp-pins.yaml").path
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        board: OSDP test bench
        chips: {sim: gpio-sim.0-node0}
        doors:
          lobby:
            relay: {chip: sim, line: 0, active: high}
            fail_mode: safe
            contact: {chip: sim, line: 1, switch: normally-closed, debounce: 20ms}
        \(lobbyAddress.map { "    osdp: {port: \(port), address: \($0), baud: 115200}\n" } ?? "")  server-room:
        \(strikeOnReader ? "" : "    relay: {chip: sim, line: 8, active: high}\n")    fail_mode: secure
            contact: {chip: sim, line: 9, switch: normally-closed, debounce: 20ms}
            osdp: {port: \(port), address: 1, baud: 115200, formats: [H10301]\(strikeOnReader ? ", strike_output: 0" : "")}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    struct Bench {
        let peer: ReaderPeer
        let site: RunCommandTests.Site
        let map: String
    }

    /// A site whose server room (badge+face) has an OSDP reader and a camera showing
    /// `faces`; Barack Obama holds badge 12:1001.
    func bench(peerReaders: [String], faces: [String], strikeOnReader: Bool = false) throws -> Bench {
        let peer = try ReaderPeer(readers: peerReaders)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-osdp-\(UUID())")
        let map = try Self.pinMap(port: peer.pty, in: dir, strikeOnReader: strikeOnReader)
        let site = try RunCommandTests.Site(lobbyPhotos: [], serverRoomPhotos: faces, pinmap: map)
        try RunCommandTests().enrollObama(site)
        return Bench(peer: peer, site: site, map: map)
    }

    func fixture(_ n: String) -> String { CLI.fixtures.appendingPathComponent(n).path }

    /// Runs the site until one decision, with a card presented at the OSDP reader once it is
    /// online under Secure Channel.
    func runWithCard(_ b: Bench) throws -> String {
        let w = try RunningWarden(["run", "--site", b.site.siteFile, "--stop-after-decisions", "1", "--duration", "300"], home: b.site.home)
        #expect(w.waitFor("reader online (Secure Channel)", timeout: 120), "\(w.output)")
        try b.peer.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        #expect(w.waitFor("1 decision made", timeout: 200), "\(w.output)")
        _ = w.stop()
        return w.output
    }

    @Test func installSetsAKeyAndACardWithTheRightFaceOpensTheDoorWithTheLEDsShowingIt() throws {
        let b = try bench(peerReaders: ["1::install"], faces: [fixture("obama2.jpg"), fixture("obama3.jpg")])
        let install = try CLI.run(["reader", "install", "server-room", "--map", b.map], home: b.site.home)
        #expect(install.status == 0, "\(install.stdout) \(install.stderr)")
        #expect(install.stdout.contains("Secure Channel verified"), "\(install.stdout)")
        #expect(b.peer.events.contains { $0["event"] as? String == "keyset" }, "the reader was given a key")
        let list = try CLI.run(["reader", "list", "--map", b.map, "--json"], home: b.site.home)
        let rows = try #require(try list.json() as? [[String: Any]])
        #expect(rows.first?["key"] as? String == "installed" && rows.first?["generation"] as? Int == 1, "\(rows)")
        // Installed already: a second install needs --replace.
        #expect(try CLI.run(["reader", "install", "server-room", "--map", b.map], home: b.site.home).status != 0)

        // hardware check: the reader's ID report, capabilities and Secure Channel state.
        let check = try CLI.run(["hardware", "check", "--map", b.map, "--json"], home: b.site.home)
        let readers = try #require((try check.json() as? [String: Any])?["readers"] as? [[String: Any]], "\(check.stdout) \(check.stderr)")
        let reader = try #require(readers.first?["reader"] as? [String: Any], "\(readers)")
        #expect(readers.first?["status"] as? String == "ok" && reader["secure"] as? Bool == true, "\(readers)")
        #expect(reader["serialNumber"] as? Int == 0x1001 && (reader["capabilities"] as? [String: String])?["communication_security"] != nil, "\(reader)")

        let log = try runWithCard(b)
        let ev = try b.site.events()
        let decision = ev.first { $0.kind == .decision && $0.door == "server-room" }
        #expect(decision?.type == "access.granted" && decision?.factors?.map(\.factor) == ["badge", "face"], "\(log)")
        #expect(ev.contains { $0.type == "reader.online" && $0.detail?["secure_channel"] == "active" })
        #expect(ev.contains { $0.type == "door.released" && $0.door == "server-room" })
        // The key's life is in the audit log (never the key): staged, then set once verified.
        let keyEvents = ev.filter { $0.type.hasPrefix("admin.reader_key") }.map(\.type)
        #expect(keyEvents == ["admin.reader_key_staged", "admin.reader_key_set"], "\(keyEvents)")
        #expect(ev.first { $0.type == "admin.reader_key_set" }?.detail?["generation"] == "1")
        let leds = b.peer.commands(address: 1).filter { $0["command"] as? Int == 2 }
        #expect(leds.contains { $0["on_color"] as? Int == 3 }, "amber: look at the camera \(leds)")
        #expect(leds.contains { $0["on_color"] as? Int == 2 }, "green: granted \(leds)")
        #expect(try b.site.w("audit", "verify").status == 0)
    }

    @Test func theWrongFaceIsDeniedAndTheReaderShowsRed() throws {
        let b = try bench(peerReaders: ["1::install"], faces: [fixture("biden.jpg"), try RunCommandTests.rescaled(fixture("biden.jpg"))])
        #expect(try CLI.run(["reader", "install", "server-room", "--map", b.map], home: b.site.home).status == 0)
        let log = try runWithCard(b)
        let decision = try b.site.events().first { $0.kind == .decision && $0.door == "server-room" }
        #expect(decision?.type == "access.denied", "\(log)")
        #expect(try !b.site.events().contains { $0.type == "door.released" })
        // Red, flashing: the denial (the resting red is steady, off_count 0).
        #expect(ReaderPeer.waitUntil { b.peer.commands(address: 1).contains { $0["command"] as? Int == 2 && $0["on_color"] as? Int == 1 && ($0["off_count"] as? Int ?? 0) > 0 } },
                "\(b.peer.commands(address: 1))")
    }

    /// A strike wired to the reader's output: a grant pulses it for the strike time (a
    /// pulse the reader ends by itself, so a dead controller cannot leave it released), and
    /// the relock turns it off.
    @Test func aStrikeOnTheReadersOutputIsPulsedForAGrant() throws {
        let b = try bench(peerReaders: ["1::install"], faces: [fixture("obama2.jpg"), fixture("obama3.jpg")], strikeOnReader: true)
        #expect(try CLI.run(["reader", "install", "server-room", "--map", b.map], home: b.site.home).status == 0)
        let w = try RunningWarden(["run", "--site", b.site.siteFile, "--duration", "300"], home: b.site.home)
        defer { _ = w.stop() }
        #expect(w.waitFor("reader online (Secure Channel)", timeout: 120), "\(w.output)")
        try b.peer.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        #expect(w.waitFor("lock relocked", timeout: 200), "\(w.output)")
        let outputs = { b.peer.commands(address: 1).filter { $0["command"] as? Int == 1 } }
        #expect(ReaderPeer.waitUntil { outputs().contains { $0["control_code"] as? Int == 1 } }, "\(outputs())")
        let pulse = try #require(outputs().first { $0["control_code"] as? Int == 5 }, "\(outputs())")
        #expect(pulse["output_no"] as? Int == 0 && (1...20).contains(pulse["timer_count"] as? Int ?? 0), "a timed pulse of at most the 2 s strike time: \(pulse)")
        #expect(!outputs().contains { $0["control_code"] as? Int == 2 }, "never a permanent on")
        #expect(try b.site.events().contains { $0.type == "door.released" && $0.door == "server-room" })
    }

    /// Two doors' readers on one bus (addresses 1 and 2): both come up, garbage on the line
    /// is counted in `warden status` while a card still opens the server room, and the lobby's
    /// reader, unplugged and plugged back, is offline (alarmed) and then online again with
    /// its resting LED re-sent.
    @Test func twoReadersOnOneBusNoiseIsCountedAndAReplugBringsTheReaderBack() throws {
        let peer = try ReaderPeer(readers: ["1::install", "2::install"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-osdp-\(UUID())")
        let map = try Self.pinMap(port: peer.pty, in: dir, lobbyAddress: 2)
        let site = try RunCommandTests.Site(lobbyPhotos: [], serverRoomPhotos: [fixture("obama2.jpg"), fixture("obama3.jpg")], pinmap: map)
        try RunCommandTests().enrollObama(site)
        for door in ["server-room", "lobby"] {
            let r = try CLI.run(["reader", "install", door, "--map", map], home: site.home)
            #expect(r.status == 0, "\(door): \(r.stderr)")
        }
        let w = try RunningWarden(["run", "--site", site.siteFile, "--duration", "300"], home: site.home)
        defer { _ = w.stop() }
        let online = "reader online (Secure Channel)"
        #expect(w.waitFor(online, count: 2, timeout: 120), "\(w.output)")

        for _ in 0..<5 { try peer.send(["op": "noise", "bytes": 300]); usleep(100_000) }
        var bus: [String: String] = [:]
        #expect(ReaderPeer.waitUntil(seconds: 60) {
            guard let s = try? CLI.run(["status", "--json"], home: site.home), let j = try? s.json() as? [String: Any],
                  let b = (j["osdp"] as? [[String: String]])?.first else { return false }
            bus = b
            return (Int(b["bytes_skipped"] ?? "0") ?? 0) + (Int(b["frames_rejected"] ?? "0") ?? 0) > 0 && b["online"] == "2"
        }, "noise counted, both readers still online: \(bus)")
        try peer.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        #expect(w.waitFor("GRANTED", timeout: 200), "\(w.output)")

        let ledsBefore = peer.commands(address: 2).filter { $0["command"] as? Int == 2 }.count
        try peer.send(["op": "unplug", "address": 2])
        #expect(w.waitFor("ALARM: reader offline", timeout: 120), "\(w.output)")
        try peer.send(["op": "replug", "address": 2])
        #expect(w.waitFor(online, count: 3, timeout: 120), "\(w.output)")
        #expect(ReaderPeer.waitUntil { peer.commands(address: 2).filter { $0["command"] as? Int == 2 }.count > ledsBefore }, "the lobby's resting LED was sent again")
        _ = w.stop()
        let ev = try site.events()
        #expect(ev.filter { $0.type == "reader.online" && $0.door == "lobby" }.count == 2)
        #expect(ev.contains { $0.type == "reader.offline" && $0.door == "lobby" })
        #expect(!ev.contains { $0.type == "reader.offline" && $0.door == "server-room" }, "the other reader on the bus stayed up")
        #expect(ev.contains { $0.type == "access.granted" && $0.door == "server-room" })
    }

    /// A key rotated at the reader, then the template key rotated at the board (which
    /// re-seals the reader key): the reader still comes up under Secure Channel.
    @Test func theReaderKeyRotatesAndSurvivesATemplateKeyRotation() throws {
        let b = try bench(peerReaders: ["1::install"], faces: [fixture("obama2.jpg"), fixture("obama3.jpg")])
        #expect(try CLI.run(["reader", "install", "server-room", "--map", b.map], home: b.site.home).status == 0)
        let rotate = try CLI.run(["reader", "rotate-key", "server-room", "--map", b.map, "--json"], home: b.site.home)
        #expect(rotate.status == 0, "\(rotate.stderr)")
        #expect((try rotate.json() as? [String: Any])?["generation"] as? Int == 2, "\(rotate.stdout)")
        let keysets = b.peer.events.filter { $0["event"] as? String == "keyset" }.compactMap { $0["key"] as? String }
        #expect(keysets.count == 2 && Set(keysets).count == 2, "two different keys were set: \(keysets.count)")
        #expect(try b.site.w("keys", "rotate").status == 0)
        let w = try RunningWarden(["run", "--site", b.site.siteFile, "--duration", "60"], home: b.site.home)
        #expect(w.waitFor("reader online (Secure Channel)", timeout: 120), "\(w.output)")
        _ = w.stop()
        #expect(try b.site.w("audit", "verify").status == 0)
    }

    /// A reader that holds another key: install is refused (it is not in install mode, so
    /// it would answer only in plain text, and is sent nothing). Under a stored key it does
    /// not hold, `warden run` refuses it, alarms, and reads no card from it.
    @Test func aReaderWithAnotherKeyIsRefusedAlarmedAndNeverUsed() throws {
        let b = try bench(peerReaders: ["1::install"], faces: [fixture("obama2.jpg"), fixture("obama3.jpg")])
        #expect(try CLI.run(["reader", "install", "server-room", "--map", b.map], home: b.site.home).status == 0)

        // Another reader in its place, keyed by someone else.
        let other = try ReaderPeer(readers: ["1:a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"])
        try String(contentsOfFile: b.map, encoding: .utf8).replacingOccurrences(of: b.peer.pty, with: other.pty).write(toFile: b.map, atomically: true, encoding: .utf8)
        let install = try CLI.run(["reader", "install", "server-room", "--map", b.map, "--replace", "--seconds", "15"], home: b.site.home)
        #expect(install.status != 0)
        #expect(install.stderr.contains("not in install mode"), "\(install.stderr)")
        #expect(other.commands(address: 1).isEmpty, "nothing was sent to it in plain text: \(other.commands(address: 1))")

        let w = try RunningWarden(["run", "--site", b.site.siteFile, "--duration", "12"], home: b.site.home)
        #expect(w.waitFor("ALARM: reader refused", timeout: 120), "\(w.output)")
        try other.send(["op": "card", "address": 1, "bits": ReaderPeer.h10301(facility: 12, card: 1001)])
        #expect(w.waitFor("stopped (", timeout: 120))
        _ = w.stop()
        let ev = try b.site.events()
        #expect(ev.contains { $0.type == "reader.secure_channel_refused" && $0.door == "server-room" })
        #expect(!ev.contains { $0.kind == .decision && $0.door == "server-room" }, "no card was read from the refused reader")
        #expect(!ev.contains { $0.type == "reader.online" })
        #expect(other.commands(address: 1).isEmpty)
    }
}
