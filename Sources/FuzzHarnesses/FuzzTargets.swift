import CLibOSDP
import DoorIO
import FaceKit
import FleetProtocol
import Foundation
import Policy
import WardenCore

/// The inputs a person or a wire can feed Warden, as fuzz targets. Each takes arbitrary
/// bytes and must return (never crash, hang or grow without bound); where a result can be
/// checked against another path, it is, and a mismatch traps so the fuzzer reports it.
///
/// `make fuzz` runs them under libFuzzer (`warden-fuzz` built with `-sanitize=fuzzer`);
/// `make test` replays every file in `fuzz/corpus/<target>/`, so a crash once found stays
/// a regression test.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case image, wiegand, policy, pinmap, identifiers, osdp, peer

    public func run(_ bytes: [UInt8]) {
        switch self {
        case .image: Self.image(bytes)
        case .wiegand: Self.wiegand(bytes)
        case .policy: Self.policy(bytes)
        case .pinmap: Self.pinMap(bytes)
        case .identifiers: Self.identifiers(bytes)
        case .osdp: Self.osdp(bytes)
        case .peer: Self.peer(bytes)
        }
    }

    /// What a controller or an operator sends the fleet server: every message the server
    /// reads, through its one reader (`FleetJSON.decodeChecked`), and the query-parameter
    /// parsers. None may trap; whatever passes is within its ranges, so the conversions a
    /// handler then makes (seconds to milliseconds, dates to PostgreSQL's microseconds) hold.
    static func peer(_ bytes: [UInt8]) {
        let data = Data(bytes)
        func read<T: Decodable>(_ type: T.Type) -> T? { try? FleetJSON.decodeChecked(T.self, from: data) }
        if let r = read(ControllerReport.self) {
            precondition(r.appliedRevision >= 0 && r.bufferedEvents >= 0, "a heartbeat passed with a negative count")
            _ = r.sentAt.timeIntervalSince1970 * 1_000_000
        }
        if let b = read(EventBatch.self) { precondition(b.rows.allSatisfy { $0.seq >= 1 }, "an upload passed with a row numbered below 1") }
        _ = read(AppliedReport.self); _ = read(JoinRequest.self); _ = read(CaptureProgressWire.self); _ = read(CaptureResultWire.self)
        _ = read(AdminBadge.self); _ = read(AdminGroupMember.self); _ = read(AdminConfiguration.self); _ = read(AdminGrantRef.self)
        for date in [read(AdminPersonAdd.self)?.validFrom, read(AdminPersonAdd.self)?.validUntil, read(AdminGrant.self)?.until].compactMap({ $0 }) {
            // What PostgreSQL's encoder computes for a timestamp: must not overflow.
            precondition(Int64(exactly: (date.timeIntervalSince(Date(timeIntervalSince1970: 946_684_800)) * 1_000_000).rounded()) != nil, "a date PostgreSQL cannot encode passed")
        }
        if let c = read(AdminCameraEnroll.self) { _ = Int(c.seconds * 1000) }
        guard let text = String(bytes: bytes.prefix(200), encoding: .utf8) else { return }
        if let wait = try? PeerInput.seconds(text, "wait", in: 0...30, default: 0) { _ = Int(wait * 1000) }
        _ = try? PeerInput.integer(text, "since", in: 0...(Int64.max / 2), default: 0)
        if let t = try? PeerInput.time(text, "from") { _ = Int64(t.timeIntervalSince1970 * 1_000_000) }
    }

    /// JPEG, PNG, WebP and PGM/PPM by content, with small caps so oversized headers are
    /// refused before allocation rather than exhausting the fuzzer's memory.
    static func image(_ bytes: [UInt8]) {
        for strict in [true, false] {
            guard let img = try? RGBImage(decoding: bytes, limits: ImageLimits(maxPixels: 4_000_000, maxBytes: 1 << 20, strict: strict)) else { continue }
            precondition(img.width > 0 && img.height > 0 && img.pixels.count == img.width * img.height * 3, "decoded image has inconsistent size")
            precondition(img.width * img.height <= 4_000_000, "pixel cap not enforced")
        }
    }

    /// Random edge timings on D0/D1: each 3 bytes are a line (low bit) and a gap in
    /// microseconds. A frame that decodes must re-encode to the same card.
    static func wiegand(_ bytes: [UInt8]) {
        var decoder = WiegandDecoder()
        var at = Date(timeIntervalSince1970: 0)
        var reads: [WiegandRead] = []
        var i = 0
        while i + 2 < bytes.count {
            let gap = Double(Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])) * (bytes[i] & 2 == 0 ? 1 : 4)   // up to ~260 ms
            at = at.addingTimeInterval(gap / 1_000_000)
            if let r = decoder.feed(WiegandPulse(line: bytes[i] & 1 == 0 ? .d0 : .d1, at: at)) { reads.append(r) }
            i += 3
        }
        if let r = decoder.poll(now: at.addingTimeInterval(1)) { reads.append(r) }
        for case .card(let name, let facility, let card) in reads {
            guard let format = WiegandFormat.standard.first(where: { $0.name == name }) else { preconditionFailure("unknown format \(name)") }
            precondition(format.encode(facility: facility, card: card) != nil, "decoded card \(facility):\(card) does not re-encode in \(name)")
        }
    }

    /// The policy loader on one file's text (the site model, doors, schedules and grants
    /// all come through it): either a policy or errors with locations, never a crash.
    static func policy(_ bytes: [UInt8]) {
        guard let text = String(bytes: bytes, encoding: .utf8) else { return }
        do { _ = try PolicyLoader().load(sources: [("fuzz.yaml", text)]) } catch {
            precondition(!error.issues.isEmpty, "a policy refused with no reason")
        }
    }

    static func pinMap(_ bytes: [UInt8]) {
        guard let text = String(bytes: bytes, encoding: .utf8) else { return }
        _ = try? PinMap.parse(text, source: "fuzz.yaml")
    }

    /// libosdp's frame decoder, as a control panel hears a line: the bytes arrive as the
    /// replies of a reader at address 1 (in pieces: the first byte of each 32 says how many
    /// follow), between turns of the CP. Whatever they are, they never crash it and never
    /// bring up a Secure Channel session (that takes the key).
    static func osdp(_ bytes: [UInt8]) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        defer { close(fds[1]) }
        var reader = wosdp_reader()
        reader.address = 1
        reader.mode = Int32(WOSDP_SECURE.rawValue)
        withUnsafeMutableBytes(of: &reader.scbk) { for i in 0..<16 { $0[i] = UInt8(i) } }
        var error = [CChar](repeating: 0, count: 128)
        guard let bus = wosdp_open_fd(fds[0], 1, &reader, &error, 128) else { return }
        defer { wosdp_close(bus) }
        var sink = [UInt8](repeating: 0, count: 512)
        var i = 0
        while i < bytes.count {
            let n = min(Int(bytes[i] % 32) + 1, bytes.count - i - 1)
            _ = wosdp_refresh(bus)
            _ = read(fds[1], &sink, sink.count)  // what the CP sent
            if n > 0 { _ = bytes[(i + 1)...(i + n)].withContiguousStorageIfAvailable { write(fds[1], $0.baseAddress, n) } }
            _ = wosdp_refresh(bus)
            i += n + 1
        }
        for _ in 0..<4 { _ = wosdp_refresh(bus) }
        var event = wosdp_event()
        while wosdp_next_event(bus, &event) == 1 {}
        var online: Int32 = 0, secure: Int32 = 0
        _ = wosdp_state(bus, 0, &online, &secure)
        precondition(secure == 0, "a Secure Channel session came up without the key")
    }

    /// Badge identifiers as typed on the command line: a parse that succeeds prints back
    /// to text that parses to the same credential.
    static func identifiers(_ bytes: [UInt8]) {
        guard let text = String(bytes: bytes, encoding: .utf8) else { return }
        for format in BadgeFormat.allCases {
            guard let c = try? BadgeCredential(parsing: text, format: format) else { continue }
            let again = try? BadgeCredential(parsing: c.description, format: format)
            precondition(again == c, "badge \(text) does not round-trip")
        }
    }
}
