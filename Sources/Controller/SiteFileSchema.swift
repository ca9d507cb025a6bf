import Foundation
import Yams

/// What a site file may say: every key, and the range of every number. Checked on the
/// YAML tree before the file is decoded, so each problem names its file:line:column, an
/// unknown (misspelt) key is an error rather than silently ignored, and no number that is
/// infinite, not a number or out of range (`lockout: {duration: .inf}`, `attempts: 0`,
/// `badge_window: .nan`) reaches the controller.
indirect enum SiteFileSchema: Sendable {
    case string
    case bool
    /// A finite number in `range`; `integer` refuses fractions.
    case number(ClosedRange<Double>, integer: Bool, unit: String)
    case fields([String: SiteFileSchema])
    /// A map with keys of the caller's choosing (door ids).
    case map(SiteFileSchema)
    case list(SiteFileSchema)

    static let camera = SiteFileSchema.fields([
        "images": .string, "device": .string, "url": .string, "file": .string,
        "fps": .number(0.1...60, integer: false, unit: "frames per second"), "loop": .bool,
        "width": .number(16...7680, integer: true, unit: "pixels"), "height": .number(16...4320, integer: true, unit: "pixels"),
    ])
    static let face = SiteFileSchema.fields([
        "frames_required": .number(1...100, integer: true, unit: "frames"),
        "maximum_frames": .number(1...1000, integer: true, unit: "frames"),
        "upsample": .number(0...2, integer: true, unit: ""),
        "badge_window": .number(0.5...600, integer: false, unit: "seconds"),
        "whole_frame_every": .number(1...30, integer: true, unit: "frames"),
        "liveness_frames": .number(1...100, integer: true, unit: "frames"),
        "liveness_threshold": .number(0...1, integer: false, unit: ""),
    ])
    static let lockout = SiteFileSchema.fields([
        "attempts": .number(1...1000, integer: true, unit: "attempts"),
        "window": .number(1...86_400, integer: false, unit: "seconds"),
        "duration": .number(1...86_400, integer: false, unit: "seconds"),
    ])
    static let mqtt = SiteFileSchema.fields([
        "host": .string, "port": .number(1...65_535, integer: true, unit: ""), "protocol": .string, "client_id": .string,
        "username": .string, "password_file": .string,
        "tls": .fields(["ca_file": .string, "cert_file": .string, "key_file": .string]),
        "topic_prefix": .string, "site": .string, "person": .string,
        "discovery": .fields(["enabled": .bool, "prefix": .string]),
        "queue": .number(10...1_000_000, integer: true, unit: "messages"),
        "keepalive": .number(5...3600, integer: true, unit: "seconds"),
        "commands": .fields(["enabled": .bool, "doors": .list(.string)]),
    ])
    static let webhook = SiteFileSchema.fields([
        "url": .string, "secret_file": .string, "ca_file": .string, "events": .list(.string), "person": .string,
        "queue": .number(10...1_000_000, integer: true, unit: "events"), "attempts": .number(1...100, integer: true, unit: "tries"),
    ])
    static let site = SiteFileSchema.fields([
        "policy": .string, "pinmap": .string, "gpio": .string, "mqtt": mqtt, "webhooks": .list(webhook),
        "template_update": .fields(["enabled": .bool, "max_added": .number(1...20, integer: true, unit: "templates"),
                                    "margin": .number(0.02...0.3, integer: false, unit: "distance")]),
        "doors": .map(.fields(["camera": camera, "face": face, "lockout": lockout])),
        "simulate": .list(.fields([
            "at": .number(0...1_000_000, integer: false, unit: "seconds"),
            "after_decisions": .number(0...1_000_000, integer: true, unit: "decisions"),
            "door": .string, "badge": .string, "contact": .string, "exit": .string,
        ])),
    ])

    /// Every problem in `node`, each prefixed with `file:line:column:`.
    func check(_ node: Node, file: String, path: String = "") -> [String] {
        func at(_ n: Node) -> String { "\(file):\(n.mark.map { "\($0.line):\($0.column)" } ?? "0:0"): " }
        let name = path.isEmpty ? "the file" : path
        // An empty value (`simulate:` with nothing after it) is the same as leaving it out.
        if case .scalar(let sc) = node, NSNull.construct(from: sc) != nil, !path.isEmpty { return [] }
        switch self {
        case .string:
            guard case .scalar = node else { return [at(node) + "\(name) must be text"] }
            return []
        case .bool:
            guard case .scalar(let s) = node, Bool.construct(from: s) != nil else { return [at(node) + "\(name) must be true or false"] }
            return []
        case .number(let range, let integer, let unit):
            let want = "\(name) must be \(integer ? "a whole number" : "a number") from \(Self.show(range.lowerBound)) to \(Self.show(range.upperBound))"
                + (unit.isEmpty ? "" : " \(unit)")
            guard case .scalar(let s) = node else { return [at(node) + want] }
            guard let v = Double.construct(from: s), v.isFinite, range.contains(v), !integer || v == v.rounded() else {
                return [at(node) + want + " (got \(s.string))"]
            }
            return []
        case .fields(let allowed):
            guard case .mapping(let m) = node else { return [at(node) + "\(name) must be a mapping of keys to values"] }
            var out: [String] = []
            for (k, v) in m {
                let key = k.string ?? "?"
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let schema = allowed[key] { out += schema.check(v, file: file, path: child) } else {
                    out.append(at(k) + "unknown key '\(child)' (known here: \(allowed.keys.sorted().joined(separator: ", ")))")
                }
            }
            return out
        case .map(let each):
            guard case .mapping(let m) = node else { return [at(node) + "\(name) must be a mapping"] }
            return m.flatMap { k, v in each.check(v, file: file, path: (path.isEmpty ? "" : path + " ") + (k.string ?? "?")) }
        case .list(let each):
            guard case .sequence(let s) = node else { return [at(node) + "\(name) must be a list"] }
            return s.enumerated().flatMap { i, v in each.check(v, file: file, path: "\(path)[\(i)]") }
        }
    }

    private static func show(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
