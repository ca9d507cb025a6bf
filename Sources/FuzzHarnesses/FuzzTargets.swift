import DoorIO
import FaceKit
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
    case image, wiegand, policy, pinmap, identifiers

    public func run(_ bytes: [UInt8]) {
        switch self {
        case .image: Self.image(bytes)
        case .wiegand: Self.wiegand(bytes)
        case .policy: Self.policy(bytes)
        case .pinmap: Self.pinMap(bytes)
        case .identifiers: Self.identifiers(bytes)
        }
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
