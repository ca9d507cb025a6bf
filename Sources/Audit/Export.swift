import Foundation
import WardenCore

public enum ExportFormat: String, Sendable, CaseIterable { case csv, jsonl }

/// Streams events as RFC 4180 CSV or JSON Lines. One JSONL line is one event in its
/// canonical form (the schema in docs/audit.md) plus its chain hash.
public struct AuditExporter {
    public static let csvColumns = [
        "seq", "at_utc", "site_local_time", "kind", "type", "door", "zone", "reader", "camera", "badge", "person_id",
        "person_name", "result", "rule", "reasons", "factors", "face_distance", "face_threshold", "face_margin",
        "face_quality", "face_frames", "model_id", "door_action", "operator", "detail", "hash",
    ]

    public static func export(_ store: AuditStore, filter: AuditFilter, format: ExportFormat, to out: (String) throws -> Void) throws -> Int {
        var n = 0
        if format == .csv { try out(csvLine(csvColumns)) }
        try store.forEachRow(where: filter) { row, e in
            switch format {
            case .jsonl:
                // The payload is already canonical JSON of the event; splice the hash in.
                try out(String(row.payload.dropLast()) + ",\"hash\":\"\(row.hash)\"}\n")
            case .csv:
                try out(csvLine(csvFields(e, hash: row.hash)))
            }
            n += 1
        }
        return n
    }

    /// The fleet's export: every controller's rows, each line naming its controller first.
    public static let fleetCSVColumns = ["controller"] + csvColumns

    public static func fleetLine(controller: String, row: AuditRow, format: ExportFormat) throws -> String {
        switch format {
        case .jsonl:
            return String(row.payload.dropLast()) + ",\"controller\":\(String(decoding: try JSONEncoder().encode(controller), as: UTF8.self)),\"hash\":\"\(row.hash)\"}\n"
        case .csv:
            return csvLine([controller] + csvFields(try CanonicalEncoding.decode(row.payload), hash: row.hash))
        }
    }

    static func csvFields(_ e: AuditEvent, hash: String) -> [String] {
        let num = { (d: Double?) in d.map { String(format: "%.4f", $0) } ?? "" }
        return [
            String(e.seq), AuditTime.utc(e.at), e.siteLocalTime ?? "", e.kind.rawValue, e.type, e.door ?? "", e.zone ?? "",
            e.reader ?? "", e.camera ?? "", e.badge ?? "", e.personID.map(String.init) ?? "", e.personName ?? "", e.result ?? "",
            e.rule ?? "", (e.reasons ?? []).joined(separator: ";"),
            (e.factors ?? []).map { "\($0.factor):\($0.ok ? "ok" : "fail")" }.joined(separator: ";"),
            num(e.face?.distance), num(e.face?.threshold), num(e.face?.margin), num(e.face?.quality),
            e.face.map { String($0.frames) } ?? "", e.face?.modelID ?? "", e.doorAction ?? "", e.operator ?? "",
            (e.detail ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";"), hash,
        ]
    }

    /// RFC 4180: fields with a comma, quote, CR or LF are quoted, quotes doubled; CRLF ends
    /// the record. A leading =, +, -, @, TAB or CR is prefixed with ' so a spreadsheet shows
    /// text instead of running a formula (CSV injection; OWASP lists all six). Control
    /// characters other than CR and LF are written as visible escapes (\u{1B}), so a
    /// field cannot drive a terminal that shows the file.
    public static func csvLine(_ fields: [String]) -> String {
        fields.map { f -> String in
            var v = f
            if let c = v.first, "=+-@\t\r".contains(c), Double(v) == nil { v = "'" + v }
            v = DisplayText.escapingControls(v, keepingNewlines: true)
            if v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) {
                return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return v
        }.joined(separator: ",") + "\r\n"
    }

    /// Parses RFC 4180 CSV back into records (for round-trip checks and for tools).
    public static func parseCSV(_ text: String) -> [[String]] {
        var records: [[String]] = [], field = "", record: [String] = []
        var inQuotes = false
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { field.append("\""); i += 1 } else { inQuotes = false }
                } else { field.append(c) }
            } else if c == "\"" {
                inQuotes = true
            } else if c == "," {
                record.append(field); field = ""
            } else if c == "\r\n" || c == "\n" || c == "\r" {
                record.append(field); field = ""
                records.append(record); record = []
            } else { field.append(c) }
            i += 1
        }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        chars.removeAll()
        return records
    }
}

/// Per door and day: grants, denials by reason, alarms.
public struct AuditStats: Codable, Sendable, Equatable {
    public struct Bucket: Codable, Sendable, Equatable {
        public var door: String
        public var day: String
        public var granted = 0
        public var denied = 0
        public var deniedByReason: [String: Int] = [:]
        public var alarms: [String: Int] = [:]
    }
    public var buckets: [Bucket]

    public static let alarmTypes: Set<String> = ["door.forced_open", "door.held_open", "door.tamper", "door.held_open_prealarm"]

    public static func compute(_ store: AuditStore, filter: AuditFilter, timeZone: TimeZone = TimeZone(identifier: "UTC")!) throws -> AuditStats {
        var map: [String: Bucket] = [:]
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        try store.forEachRow(where: filter) { _, e in
            guard e.kind == .decision || e.kind == .door, let door = e.door else { return }
            let c = cal.dateComponents([.year, .month, .day], from: e.at)
            let day = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
            let key = door + "|" + day
            var b = map[key] ?? Bucket(door: door, day: day)
            if e.result == "granted" { b.granted += 1 }
            if e.result == "denied" {
                b.denied += 1
                for r in e.reasons ?? ["unspecified"] { b.deniedByReason[r, default: 0] += 1 }
            }
            if alarmTypes.contains(e.type) { b.alarms[e.type, default: 0] += 1 }
            map[key] = b
        }
        return AuditStats(buckets: map.values.sorted { ($0.day, $0.door) < ($1.day, $1.door) })
    }
}
