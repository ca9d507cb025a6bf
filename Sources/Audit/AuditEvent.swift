import Foundation
import WardenCore

/// One entry of the audit trail. Decisions carry the evidence behind them; door, system and
/// admin events carry what happened and who or what caused it. Optional fields are absent
/// from the canonical encoding when nil, so adding a field later does not change the hash
/// of old events.
public struct AuditEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case decision, door, system, admin }

    /// Position in the chain, assigned when the event is written (0 until then).
    public var seq: Int64 = 0
    /// When it happened, UTC.
    public var at: Date
    /// The same instant in the site's time zone, as people at the site read it.
    public var siteLocalTime: String?
    public var kind: Kind
    /// What happened, dotted: access.granted, access.denied, door.forced_open, system.start,
    /// admin.enroll, ...
    public var type: String
    public var door: String?
    public var zone: String?
    public var reader: String?
    public var camera: String?
    /// FACILITY:NUMBER as read.
    public var badge: String?
    public var personID: Int64?
    public var personName: String?
    /// granted or denied, for decisions.
    public var result: String?
    public var factors: [FactorResult]?
    public var face: FaceEvidence?
    /// The id of the policy rule that decided.
    public var rule: String?
    /// Reason codes (outside_schedule, no_grant, factor_missing:face, ...).
    public var reasons: [String]?
    /// What the door did (released 5s, stayed locked, ...).
    public var doorAction: String?
    /// Who made an admin change.
    public var `operator`: String?
    /// Anything else, as text.
    public var detail: [String: String]?

    public init(at: Date = Date(), kind: Kind, type: String, door: String? = nil, zone: String? = nil, reader: String? = nil,
                camera: String? = nil, badge: String? = nil, personID: Int64? = nil, personName: String? = nil,
                result: String? = nil, factors: [FactorResult]? = nil, face: FaceEvidence? = nil, rule: String? = nil,
                reasons: [String]? = nil, doorAction: String? = nil, operator op: String? = nil, detail: [String: String]? = nil,
                siteTimeZone: TimeZone? = nil) {
        self.at = at; self.kind = kind; self.type = type; self.door = door; self.zone = zone; self.reader = reader
        self.camera = camera; self.badge = badge; self.personID = personID; self.personName = personName; self.result = result
        self.factors = factors; self.face = face; self.rule = rule; self.reasons = reasons; self.doorAction = doorAction
        self.operator = op; self.detail = detail
        if let tz = siteTimeZone { siteLocalTime = AuditTime.local(at, in: tz) }
    }

    public static func admin(_ type: String, operator op: String, subject: String, detail: [String: String] = [:], at: Date = Date()) -> AuditEvent {
        var d = detail
        d["subject"] = subject
        return AuditEvent(at: at, kind: .admin, type: type, operator: op, detail: d)
    }
}

/// One factor presented at a decision and how it went.
public struct FactorResult: Codable, Sendable, Equatable {
    public var factor: String   // face, badge, pin
    public var ok: Bool
    public var detail: String?
    public init(factor: String, ok: Bool, detail: String? = nil) { self.factor = factor; self.ok = ok; self.detail = detail }
}

/// The evidence behind a face factor.
public struct FaceEvidence: Codable, Sendable, Equatable {
    public var distance: Double?
    public var threshold: Double
    /// Distance to the next different person minus the best (1:N), or threshold − distance (1:1).
    public var margin: Double?
    public var quality: Double?
    public var frames: Int
    public var modelID: String
    /// Presentation-attack evidence, where the door scored it.
    public var liveness: LivenessEvidenceRecord?
    public init(distance: Double?, threshold: Double, margin: Double?, quality: Double?, frames: Int, modelID: String,
                liveness: LivenessEvidenceRecord? = nil) {
        self.distance = distance; self.threshold = threshold; self.margin = margin; self.quality = quality
        self.frames = frames; self.modelID = modelID; self.liveness = liveness
    }
}

/// What presentation-attack detection saw of a decision's face: the verdict, the bona fide
/// probability of each fresh frame scored (the pair's mean), how many frames the door
/// requires, and the threshold on their mean.
public struct LivenessEvidenceRecord: Codable, Sendable, Equatable {
    /// live, attack, unsure, unavailable or not_checked.
    public var verdict: String
    /// Whether the door required liveness when it decided.
    public var required: Bool
    public var scores: [Double]
    public var framesRequired: Int
    public var threshold: Double
    /// Why a frame could not be scored, when one could not.
    public var problem: String?
    public init(verdict: String, required: Bool, scores: [Double], framesRequired: Int, threshold: Double, problem: String? = nil) {
        self.verdict = verdict; self.required = required; self.scores = scores; self.framesRequired = framesRequired
        self.threshold = threshold; self.problem = problem
    }
}

public enum AuditTime {
    /// UTC with milliseconds, the form stored and hashed: 2026-11-29T04:06:49.748Z. Written
    /// by hand with gmtime_r: a new ISO8601DateFormatter per event cost more than the whole
    /// rest of an append.
    public static func utc(_ d: Date) -> String {
        // To the nearest microsecond first, then down to the millisecond: a time parsed from
        // "…22.864Z" is 22.86399999… in binary, and must still print (and compare) as .864.
        // A date no clock can show (from a peer, never from this machine's clock) is named as
        // such rather than trapping the process in the conversion.
        guard let us = Int64(exactly: (d.timeIntervalSince1970 * 1_000_000).rounded()), abs(us) < 250_000_000_000_000_000 else {
            return "(not a date: \(d.timeIntervalSince1970) s)"
        }
        var ms = us >= 0 ? us / 1000 : (us - 999) / 1000
        var secs = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        ms -= Int64(secs) * 1000
        var tm = tm()
        gmtime_r(&secs, &tm)
        let year = Int(tm.tm_year) + 1900
        guard (0...9999).contains(year) else {
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                          Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(ms))
        }
        // Digit by digit rather than String(format:), which costs microseconds per call and
        // runs for every event logged and published.
        var out = [UInt8](repeating: 0, count: 24)
        func put(_ v: Int, _ at: Int, _ width: Int) {
            var v = v
            for i in stride(from: at + width - 1, through: at, by: -1) { out[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10 }
        }
        put(year, 0, 4); out[4] = UInt8(ascii: "-"); put(Int(tm.tm_mon) + 1, 5, 2); out[7] = UInt8(ascii: "-")
        put(Int(tm.tm_mday), 8, 2); out[10] = UInt8(ascii: "T"); put(Int(tm.tm_hour), 11, 2); out[13] = UInt8(ascii: ":")
        put(Int(tm.tm_min), 14, 2); out[16] = UInt8(ascii: ":"); put(Int(tm.tm_sec), 17, 2); out[19] = UInt8(ascii: ".")
        put(Int(ms), 20, 3); out[23] = UInt8(ascii: "Z")
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses exactly the form `utc` writes.
    static func parseUTC(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count == 24, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b[19] == 46, b[23] == 90 else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard (48...57).contains(b[i]) else { return nil }; v = v * 10 + Int(b[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
              let se = num(17..<19), let ms = num(20..<23) else { return nil }
        var tm = tm()
        tm.tm_year = Int32(y - 1900); tm.tm_mon = Int32(mo - 1); tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h); tm.tm_min = Int32(mi); tm.tm_sec = Int32(se)
        let secs = timegm(&tm)
        return Date(timeIntervalSince1970: Double(secs) + Double(ms) / 1000)
    }

    static func local(_ d: Date, in tz: TimeZone) -> String {
        let w = HumanTime.wallClock(d, in: tz)
        return "\(w.date)T\(w.time)\(w.offset)"
    }
}

/// The canonical byte form that is hashed and stored: JSON with sorted keys, no
/// whitespace, unescaped slashes, dates as UTC ISO 8601 with milliseconds.
enum CanonicalEncoding {
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(AuditTime.utc(date))
        }
        return encoder
    }

    static func encode(_ event: AuditEvent, with encoder: JSONEncoder = makeEncoder()) throws -> String {
        String(decoding: try encoder.encode(event), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> AuditEvent {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { dec in
            let c = try dec.singleValueContainer()
            let s = try c.decode(String.self)
            guard let d = AuditTime.parseUTC(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "bad timestamp \(s)")
            }
            return d
        }
        return try decoder.decode(AuditEvent.self, from: Data(text.utf8))
    }
}

extension AuditEvent {
    /// When, as people read it (`HumanTime`'s form): the site's wall clock with its offset,
    /// from the site-local time the event carries ("2026-12-07 17:03:06 +01:00"); UTC as
    /// "+00:00" for an event that carries none (the server's own).
    public var humanTime: String {
        // siteLocalTime is AuditTime.local's "yyyy-MM-ddTHH:mm:ss+hh:mm".
        if let local = siteLocalTime, local.count == 25, let t = local.firstIndex(of: "T") {
            let date = local[..<t], clock = local[local.index(after: t)..<local.index(t, offsetBy: 9)], offset = local.suffix(6)
            return "\(date) \(clock) \(offset)"
        }
        return HumanTime.text(at, in: TimeZone(identifier: "UTC")!)
    }
}
