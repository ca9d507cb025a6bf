import Foundation
import WardenCore
import Yams

/// One problem in the policy files, located to file, line and column.
public struct PolicyIssue: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

public struct PolicyErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [PolicyIssue]
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Reads every `*.yaml` / `*.yml` file of a policy directory into one `SitePolicy`, checking
/// it as it goes: every problem in every file is reported at once, each with its location
/// and what was expected.
///
/// Top-level keys (any file may hold any of them): `site`, `zones`, `doors`, `schedules`,
/// `holidays`, `groups`, `grants`, `threat_levels`. See `policies/example/` and
/// docs/policy.md.
public struct PolicyLoader {
    public init() {}

    /// The largest policy file read: far beyond any site (tens of thousands of grants).
    public static let maximumFileBytes = 64 << 20

    public func load(directory: String) throws(PolicyErrors) -> SitePolicy {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw PolicyErrors(issues: [PolicyIssue(file: directory, line: 0, column: 0, message: "cannot read the policy directory")])
        }
        let files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        guard !files.isEmpty else {
            throw PolicyErrors(issues: [PolicyIssue(file: directory, line: 0, column: 0, message: "no .yaml files in the policy directory")])
        }
        var sources: [(String, String)] = []
        for f in files {
            let path = (directory as NSString).appendingPathComponent(f)
            let text: String
            do { text = try BoundedFile.readText(path, limit: Self.maximumFileBytes) } catch {
                throw PolicyErrors(issues: [PolicyIssue(file: path, line: 0, column: 0, message: "\(error)")])
            }
            sources.append((path, text))
        }
        return try load(sources: sources)
    }

    /// Loads from (file name, YAML text) pairs.
    public func load(sources: [(String, String)]) throws(PolicyErrors) -> SitePolicy {
        var b = Builder()
        for (file, text) in sources { b.parse(file: file, text: text) }
        b.checkReferences()
        if !b.issues.isEmpty {
            throw PolicyErrors(issues: b.issues.sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) })
        }
        return b.policy
    }
}

/// Builds the policy while collecting problems.
struct Builder {
    var policy = SitePolicy()
    var issues: [PolicyIssue] = []
    var defined: [String: [String: Loc]] = [:]   // kind -> id -> where
    var references: [(kind: String, id: String, at: Loc, what: String)] = []
    var zoneParents: [(zone: String, parent: String, at: Loc)] = []
    /// Grant expiry dates, resolved to instants once the site's time zone is known.
    var grantUntil: [(grant: Int, date: String)] = []
    var siteSeen = false

    struct Loc { var file: String; var line: Int; var column: Int }

    mutating func issue(_ at: Loc, _ message: String) { issues.append(PolicyIssue(file: at.file, line: at.line, column: at.column, message: message)) }
    func loc(_ file: String, _ node: Node?) -> Loc { Loc(file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0) }

    mutating func parse(file: String, text: String) {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            let (line, column, problem) = Self.describe(e)
            issues.append(PolicyIssue(file: file, line: line, column: column, message: "not valid YAML: \(problem)"))
            return
        } catch {
            issues.append(PolicyIssue(file: file, line: 0, column: 0, message: "not valid YAML: \(error)"))
            return
        }
        guard let root else { return }  // an empty file is fine
        guard case .mapping(let top) = root else { issue(loc(file, root), "expected a mapping of sections (site, zones, doors, ...)"); return }
        for (k, v) in top {
            let key = k.string ?? ""
            var r = Reader(file: file, builder: self)
            switch key {
            case "site": r.site(v)
            case "zones": r.list(v, "zones") { r, n in r.zone(n) }
            case "doors": r.list(v, "doors") { r, n in r.door(n) }
            case "schedules": r.list(v, "schedules") { r, n in r.schedule(n) }
            case "holidays": r.list(v, "holidays") { r, n in r.holidayCalendar(n) }
            case "groups": r.list(v, "groups") { r, n in r.group(n) }
            case "grants": r.list(v, "grants") { r, n in r.grant(n) }
            case "threat_levels": r.list(v, "threat_levels") { r, n in r.threatLevel(n) }
            case "interlocks": r.list(v, "interlocks") { r, n in r.interlock(n) }
            default: r.b.issue(loc(file, k), "unknown section '\(key)'; expected one of site, zones, doors, schedules, holidays, groups, grants, threat_levels, interlocks")
            }
            self = r.b
        }
    }

    mutating func define(_ kind: String, _ id: String, _ at: Loc) -> Bool {
        if let first = defined[kind]?[id] {
            issue(at, "\(kind) '\(id)' is defined twice (first at \(first.file):\(first.line):\(first.column))")
            return false
        }
        defined[kind, default: [:]][id] = at
        return true
    }

    mutating func checkReferences() {
        for (i, d) in grantUntil { policy.grants[i].until = Reader.startOfDay(d, policy.timeZone) }
        for r in references where defined[r.kind]?[r.id] == nil {
            let known = (defined[r.kind] ?? [:]).keys.sorted()
            issue(r.at, "\(r.what) '\(r.id)' is not defined; expected one of: \(known.isEmpty ? "(none defined)" : known.joined(separator: ", "))")
        }
        // Door ids that fold to one MQTT topic level would publish to the same topics and the
        // same Home Assistant device, and a command for one would reach the other.
        var levels: [String: String] = [:]
        for (id, at) in (defined["door"] ?? [:]).sorted(by: { $0.key < $1.key }) {
            let level = TopicLevel.of(id)
            if let other = levels[level] {
                issue(at, "door '\(id)' and door '\(other)' would share MQTT topics and a Home Assistant device (both are '\(level)'); rename one")
            } else { levels[level] = id }
        }
        // Zone tree: no cycles.
        for (zone, _, at) in zoneParents {
            var seen: Set<String> = [zone]
            var current = policy.zones[zone]?.parent
            while let c = current {
                if !seen.insert(c).inserted { issue(at, "zone '\(zone)' is in a cycle of parents (\(seen.sorted().joined(separator: " -> ")))"); break }
                current = policy.zones[c]?.parent
            }
        }
    }

    static func describe(_ e: YamlError) -> (Int, Int, String) {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return (mark.line, mark.column, problem)
        default: return (0, 0, "\(e)")
        }
    }
}

/// Reads one file's nodes into the builder.
struct Reader {
    let file: String
    var b: Builder

    init(file: String, builder: Builder) { self.file = file; self.b = builder }

    func at(_ n: Node?) -> Builder.Loc { b.loc(file, n) }
    mutating func issue(_ n: Node?, _ m: String) { b.issue(at(n), m) }
    mutating func ref(_ kind: String, _ id: String, _ n: Node?, _ what: String) { b.references.append((kind, id, at(n), what)) }

    mutating func list(_ node: Node, _ name: String, _ each: (inout Reader, Node) -> Void) {
        guard case .sequence(let seq) = node else { issue(node, "'\(name)' must be a list"); return }
        for item in seq { each(&self, item) }
    }

    /// A mapping's entries, with unknown keys reported.
    mutating func fields(_ node: Node, _ what: String, allowed: Set<String>) -> [String: Node]? {
        guard case .mapping(let m) = node else { issue(node, "each \(what) must be a mapping with keys \(allowed.sorted().joined(separator: ", "))"); return nil }
        var out: [String: Node] = [:]
        for (k, v) in m {
            let key = k.string ?? ""
            if !allowed.contains(key) { issue(k, "unknown key '\(key)' in \(what); expected one of \(allowed.sorted().joined(separator: ", "))"); continue }
            out[key] = v
        }
        return out
    }

    mutating func text(_ f: [String: Node], _ key: String, _ what: String, in node: Node, required: Bool = true) -> String? {
        guard let n = f[key] else { if required { issue(node, "\(what) needs '\(key)'") }; return nil }
        guard case .scalar(let s) = n, !s.string.isEmpty else { issue(n, "'\(key)' must be a non-empty text value"); return nil }
        return s.string
    }

    mutating func id(_ f: [String: Node], _ what: String, in node: Node) -> String? {
        guard let v = text(f, "id", what, in: node) else { return nil }
        guard v.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            issue(f["id"], "id '\(v)' may use only letters, digits, '-', '_' and '.'"); return nil
        }
        return v
    }

    mutating func int(_ f: [String: Node], _ key: String, default d: Int) -> Int {
        guard let n = f[key] else { return d }
        guard let v = n.int else { issue(n, "'\(key)' must be a whole number"); return d }
        return v
    }

    /// "5s", "2m", "12h", "1d" or a number of seconds.
    mutating func duration(_ f: [String: Node], _ key: String, default d: TimeInterval) -> TimeInterval {
        guard let n = f[key] else { return d }
        let s = n.string ?? ""
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let v = Double(s), v >= 0 { return v }
        if let u = s.last, let mult = units[u], let v = Double(s.dropLast()), v >= 0 { return v * mult }
        issue(n, "'\(key)' must be a duration like 5s, 2m, 12h or 1d; found '\(s)'")
        return d
    }

    mutating func names(_ n: Node?, _ key: String) -> [String] {
        guard let n else { return [] }
        if case .scalar(let s) = n { return [s.string] }
        guard case .sequence(let seq) = n else { issue(n, "'\(key)' must be a name or a list of names"); return [] }
        return seq.compactMap { $0.string }
    }

    mutating func site(_ node: Node) {
        guard let f = fields(node, "site", allowed: ["name", "timezone"]) else { return }
        if b.siteSeen { issue(node, "'site' is defined in more than one place") }
        b.siteSeen = true
        if let name = text(f, "name", "site", in: node, required: false) { b.policy.name = name }
        if let tzName = text(f, "timezone", "site", in: node) {
            if let tz = TimeZone(identifier: tzName) { b.policy.timeZone = tz } else { issue(f["timezone"], "unknown time zone '\(tzName)'; expected an IANA name like Europe/Berlin") }
        }
    }

    mutating func zone(_ node: Node) {
        guard let f = fields(node, "zone", allowed: ["id", "name", "parent", "sensitivity", "rules", "liveness"]), let id = id(f, "zone", in: node) else { return }
        guard b.define("zone", id, at(f["id"])) else { return }
        let parent = text(f, "parent", "zone", in: node, required: false)
        if let parent { ref("zone", parent, f["parent"], "parent zone"); b.zoneParents.append((id, parent, at(f["parent"]))) }
        var rules = ZoneRules()
        if let rn = f["rules"], let r = fields(rn, "zone rules", allowed: ["two_person", "anti_passback", "escort_required"]) {
            if let tp = r["two_person"], let t = fields(tp, "two_person rule", allowed: ["window", "schedule"]) {
                let sched = text(t, "schedule", "two_person", in: tp, required: false)
                if let sched { ref("schedule", sched, t["schedule"], "schedule") }
                rules.twoPerson = TwoPersonRule(window: duration(t, "window", default: 30), schedule: sched)
            }
            if let ap = r["anti_passback"] {
                if case .scalar(let s) = ap {
                    if let m = AntiPassback.Mode(rawValue: s.string) { rules.antiPassback = AntiPassback(mode: m) } else { issue(ap, "anti_passback must be soft or hard") }
                } else if let a = fields(ap, "anti_passback rule", allowed: ["mode", "reset"]) {
                    let m = text(a, "mode", "anti_passback", in: ap).flatMap(AntiPassback.Mode.init(rawValue:))
                    if m == nil { issue(a["mode"] ?? ap, "anti_passback mode must be soft or hard") }
                    rules.antiPassback = AntiPassback(mode: m ?? .hard, reset: duration(a, "reset", default: 12 * 3600))
                }
            }
            if let es = r["escort_required"], let e = fields(es, "escort_required rule", allowed: ["visitors", "escorts", "window"]) {
                let v = names(e["visitors"], "visitors"), s = names(e["escorts"], "escorts")
                if v.isEmpty || s.isEmpty { issue(es, "escort_required needs 'visitors' and 'escorts' groups") }
                for g in v { ref("group", g, e["visitors"], "visitor group") }
                for g in s { ref("group", g, e["escorts"], "escort group") }
                rules.escort = EscortRule(visitorGroups: v, escortGroups: s, window: duration(e, "window", default: 30))
            }
        }
        b.policy.zones[id] = Zone(id: id, name: text(f, "name", "zone", in: node, required: false), parent: parent,
                                  sensitivity: int(f, "sensitivity", default: 1), rules: rules, liveness: livenessRequirement(f["liveness"]))
    }

    mutating func factorRequirement(_ n: Node?) -> FactorRequirement? {
        guard let n else { return nil }
        guard let s = n.string, let r = FactorRequirement(rawValue: s.replacingOccurrences(of: " ", with: "")) else {
            issue(n, "factors must be one of face, badge, badge+face, badge|face (pin is reserved); found '\(n.string ?? "?")'"); return nil
        }
        return r
    }

    /// A list of `{schedule: ID, <value>: ...}` overrides, first match wins at run time.
    mutating func scheduleOverrides<T>(_ node: Node?, key: String, value: String, parse: (inout Self, Node?) -> T?) -> [(String, T)] {
        guard let node else { return [] }
        var out: [(String, T)] = []
        list(node, key) { r, n in
            guard let o = r.fields(n, "\(key) entry", allowed: ["schedule", value]) else { return }
            guard let s = r.text(o, "schedule", "\(key) entry", in: n) else { return }
            r.ref("schedule", s, o["schedule"], "schedule")
            if let v = parse(&r, o[value]) { out.append((s, v)) } else if o[value] == nil { r.issue(n, "\(key) entry needs '\(value)'") }
        }
        return out
    }

    mutating func livenessRequirement(_ n: Node?) -> LivenessRequirement? {
        guard let n else { return nil }
        guard let r = n.string.flatMap(LivenessRequirement.init(rawValue:)) else {
            issue(n, "liveness must be required or off; found '\(n.string ?? "?")'"); return nil
        }
        return r
    }

    mutating func door(_ node: Node) {
        let keys: Set<String> = ["id", "name", "into", "from", "hardware", "strike_time", "held_open_time", "factors", "factor_schedule",
                                 "unlock_schedule", "first_person_in", "fail_mode", "camera_fallback", "liveness", "liveness_schedule", "remote", "exit_route"]
        guard let f = fields(node, "door", allowed: keys), let id = id(f, "door", in: node) else { return }
        guard b.define("door", id, at(f["id"])) else { return }
        let into = text(f, "into", "door", in: node) ?? ""
        if !into.isEmpty { ref("zone", into, f["into"], "zone") }
        let from = text(f, "from", "door", in: node, required: false)
        if let from { ref("zone", from, f["from"], "zone") }
        var hardware: [String: String] = [:]
        if let h = f["hardware"], let hf = fields(h, "hardware binding", allowed: ["relay", "contact", "exit", "reader", "camera", "tamper", "led", "buzzer"]) {
            for (k, v) in hf { hardware[k] = v.string }
        }
        var factors: FactorRequirement? = factorRequirement(f["factors"])
        if f["factors"] == nil { issue(f["id"], "door '\(id)' has no factors: expected factors: face, badge, badge+face or badge|face") }
        let overrides = scheduleOverrides(f["factor_schedule"], key: "factor_schedule", value: "factors") { r, n in r.factorRequirement(n) }
        let livenessOverrides = scheduleOverrides(f["liveness_schedule"], key: "liveness_schedule", value: "liveness") { r, n in r.livenessRequirement(n) }
        let unlock = text(f, "unlock_schedule", "door", in: node, required: false)
        if let unlock { ref("schedule", unlock, f["unlock_schedule"], "schedule") }
        var failMode = FailMode.secure
        if let fm = f["fail_mode"] {
            if let m = fm.string.flatMap(FailMode.init(rawValue:)) { failMode = m } else { issue(fm, "fail_mode must be secure or safe") }
        }
        var fallback = CameraFallback.deny
        if let cf = f["camera_fallback"] {
            if let m = cf.string.flatMap(CameraFallback.init(rawValue:)) { fallback = m } else { issue(cf, "camera_fallback must be deny or badge") }
        }
        var firstIn = false
        if let fp = f["first_person_in"] { if let v = fp.bool { firstIn = v } else { issue(fp, "first_person_in must be true or false") } }
        if firstIn && unlock == nil { issue(f["first_person_in"], "first_person_in needs an unlock_schedule to start") }
        let strike = duration(f, "strike_time", default: 5)
        if strike <= 0 || strike > 300 { issue(f["strike_time"], "strike_time must be between 0 and 300 seconds") }
        var remote = RemoteAccess.none
        if let rn = f["remote"], let rf = fields(rn, "remote", allowed: ["release", "lockdown", "schedule"]) {
            for key in ["release", "lockdown"] {
                guard let v = rf[key] else { continue }
                guard let b = v.bool else { issue(v, "remote.\(key) must be true or false"); continue }
                if key == "release" { remote.release = b } else { remote.lockdown = b }
            }
            if let sn = rf["schedule"] {
                if let sid = sn.string { remote.schedule = sid; ref("schedule", sid, sn, "schedule") } else { issue(sn, "remote.schedule must be a schedule id") }
                if !remote.release { issue(sn, "remote.schedule limits remote release: it needs remote.release: true") }
            }
        }
        if factors == nil { factors = .badgeAndFace }  // placeholder; the issue above fails the load
        b.policy.doors[id] = Door(id: id, name: text(f, "name", "door", in: node, required: false), into: into, from: from, hardware: hardware,
                                  strikeTime: strike, heldOpenTime: duration(f, "held_open_time", default: 30), factors: factors!,
                                  factorSchedule: overrides.map { (schedule: $0.0, factors: $0.1) }, unlockSchedule: unlock,
                                  firstPersonIn: firstIn, failMode: failMode, cameraFallback: fallback,
                                  liveness: livenessRequirement(f["liveness"]), livenessSchedule: livenessOverrides.map { (schedule: $0.0, liveness: $0.1) },
                                  remote: remote)
        if let er = f["exit_route"] {
            if let v = er.bool { b.policy.doors[id]!.exitRoute = v } else { issue(er, "exit_route must be true or false") }
        }
    }

    mutating func schedule(_ node: Node) {
        guard let f = fields(node, "schedule", allowed: ["id", "windows", "holidays", "valid_from", "valid_until"]), let id = id(f, "schedule", in: node) else { return }
        guard b.define("schedule", id, at(f["id"])) else { return }
        var windows: [(TimeWindow, Node, Int)] = []
        var position = 0
        if let wn = f["windows"] {
            list(wn, "windows") { r, n in
                position += 1
                guard let w = r.fields(n, "window", allowed: ["days", "from", "to"]) else { return }
                let days = r.days(w["days"], in: n)
                guard let from = r.clock(w["from"], "from", in: n, allow24: false), let to = r.clock(w["to"], "to", in: n, allow24: true) else { return }
                if from == to { r.issue(n, "window from \(w["from"]!.string!) to \(w["to"]!.string!) is empty; use 00:00 to 24:00 for all day"); return }
                windows.append((TimeWindow(days: days, from: from, to: to), n, position))
            }
        } else { issue(node, "schedule '\(id)' needs 'windows'") }
        // Overlapping windows in one schedule are almost always a typo.
        for i in windows.indices {
            for j in windows.indices where j > i {
                let a = windows[i].0.weekIntervals(), c = windows[j].0.weekIntervals()
                if a.contains(where: { x in c.contains { $0.overlaps(x) } }) {
                    issue(windows[j].1, "this window overlaps window \(windows[i].2) of schedule '\(id)'")
                }
            }
        }
        let cals = names(f["holidays"], "holidays")
        for c in cals { ref("holiday calendar", c, f["holidays"], "holiday calendar") }
        let vf = text(f, "valid_from", "schedule", in: node, required: false), vu = text(f, "valid_until", "schedule", in: node, required: false)
        for (k, v) in [("valid_from", vf), ("valid_until", vu)] where v != nil && !Self.isDate(v!) { issue(f[k], "\(k) must be a date YYYY-MM-DD") }
        if let vf, let vu, vu < vf { issue(f["valid_until"], "valid_until is before valid_from") }
        b.policy.schedules[id] = Schedule(id: id, windows: windows.map(\.0), holidays: cals, validFrom: vf, validUntil: vu)
    }

    static func isDate(_ s: String) -> Bool {
        let p = s.split(separator: "-")
        return p.count == 3 && p[0].count == 4 && p[1].count == 2 && p[2].count == 2 && p.allSatisfy { $0.allSatisfy(\.isNumber) }
            && (1...12).contains(Int(p[1])!) && (1...31).contains(Int(p[2])!)
    }

    mutating func days(_ n: Node?, in parent: Node) -> Set<Weekday> {
        guard let n else { issue(parent, "window needs 'days' (e.g. [mon, tue] or weekdays, weekend, all, mon-fri)"); return [] }
        var out = Set<Weekday>()
        for item in names(n, "days") {
            switch item.lowercased() {
            case "all", "daily", "every day": out.formUnion(Weekday.allCases)
            case "weekdays": out.formUnion([.mon, .tue, .wed, .thu, .fri])
            case "weekend", "weekends": out.formUnion([.sat, .sun])
            default:
                let parts = item.split(separator: "-")
                if parts.count == 2, let a = Weekday.parse(String(parts[0])), let z = Weekday.parse(String(parts[1])) {
                    var d = a
                    while true { out.insert(d); if d == z { break }; d = Weekday(rawValue: d.rawValue % 7 + 1)! }
                } else if let d = Weekday.parse(item), item.count >= 3 {
                    out.insert(d)
                } else { issue(n, "unknown day '\(item)'; expected mon...sun, a range like mon-fri, weekdays, weekend or all") }
            }
        }
        if out.isEmpty { issue(n, "window has no days") }
        return out
    }

    mutating func clock(_ n: Node?, _ key: String, in parent: Node, allow24: Bool) -> Int? {
        guard let n else { issue(parent, "window needs '\(key)' (HH:MM)"); return nil }
        let s = n.string ?? ""
        let p = s.split(separator: ":")
        if p.count == 2, p[0].count <= 2, p[1].count == 2, let h = Int(p[0]), let m = Int(p[1]), (0...59).contains(m),
           (0...23).contains(h) || (allow24 && h == 24 && m == 0) {
            return h * 60 + m
        }
        issue(n, "'\(key)' must be a time HH:MM (00:00-23:59\(allow24 ? ", or 24:00" : "")); found '\(s)'")
        return nil
    }

    mutating func holidayCalendar(_ node: Node) {
        guard let f = fields(node, "holiday calendar", allowed: ["id", "dates"]), let id = id(f, "holiday calendar", in: node) else { return }
        guard b.define("holiday calendar", id, at(f["id"])) else { return }
        let dates = names(f["dates"], "dates")
        for d in dates where !Self.isDate(d) { issue(f["dates"], "'\(d)' is not a date YYYY-MM-DD") }
        b.policy.holidays[id] = HolidayCalendar(id: id, dates: Set(dates))
    }

    mutating func group(_ node: Node) {
        guard let f = fields(node, "group", allowed: ["id", "name"]), let id = id(f, "group", in: node) else { return }
        guard b.define("group", id, at(f["id"])) else { return }
        b.policy.groups[id] = Group(id: id, name: text(f, "name", "group", in: node, required: false))
    }

    mutating func grant(_ node: Node) {
        guard let f = fields(node, "grant", allowed: ["id", "to", "zone", "schedule", "until"]) else { return }
        let index = b.policy.grants.count + 1
        let gid = text(f, "id", "grant", in: node, required: false) ?? "\((file as NSString).lastPathComponent)#\(index)"
        guard let to = text(f, "to", "grant", in: node), let zone = text(f, "zone", "grant", in: node) else { return }
        let subject: Grant.Subject
        if to.hasPrefix("group:") { subject = .group(String(to.dropFirst(6))); ref("group", String(to.dropFirst(6)), f["to"], "group") }
        else if to.hasPrefix("person:"), let pid = Int64(to.dropFirst(7)) { subject = .person(pid) }
        else { issue(f["to"], "'to' must be group:NAME or person:ID; found '\(to)'"); return }
        ref("zone", zone, f["zone"], "zone")
        let sched = text(f, "schedule", "grant", in: node, required: false)
        if let sched { ref("schedule", sched, f["schedule"], "schedule") }
        if let u = text(f, "until", "grant", in: node, required: false) {
            if Self.isDate(u) { b.grantUntil.append((b.policy.grants.count, u)) } else { issue(f["until"], "until must be a date YYYY-MM-DD") }
        }
        b.policy.grants.append(Grant(id: gid, subject: subject, zone: zone, schedule: sched, until: nil))
    }

    /// Midnight at the start of a local date in the site's time zone.
    static func startOfDay(_ date: String, _ tz: TimeZone) -> Date {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        let p = date.split(separator: "-").map { Int($0)! }
        return cal.date(from: DateComponents(year: p[0], month: p[1], day: p[2]))!
    }

    mutating func interlock(_ node: Node) {
        guard let f = fields(node, "interlock", allowed: ["id", "doors"]), let id = id(f, "interlock", in: node) else { return }
        guard b.define("interlock", id, at(f["id"])) else { return }
        let doors = names(f["doors"], "doors")
        if doors.count < 2 || doors.count > Interlock.maximumDoors || Set(doors).count != doors.count {
            issue(f["doors"] ?? node, "interlock '\(id)' needs 2 to \(Interlock.maximumDoors) different doors; found \(doors.count == 0 ? "none" : doors.joined(separator: ", "))")
        }
        for d in doors {
            ref("door", d, f["doors"], "door")
            if let other = b.policy.interlock(of: d) { issue(f["doors"], "door '\(d)' is in interlock '\(other.id)' already; a door may be in one interlock only") }
        }
        b.policy.interlocks.append(Interlock(id: id, doors: doors))
    }

    mutating func threatLevel(_ node: Node) {
        guard let f = fields(node, "threat level", allowed: ["level", "name", "allowed_groups"]) else { return }
        let level = int(f, "level", default: 0)
        if level < 1 { issue(f["level"] ?? node, "threat level must be 1 or more") }
        let groups = names(f["allowed_groups"], "allowed_groups")
        for g in groups { ref("group", g, f["allowed_groups"], "group") }
        b.policy.threatLevels.append(ThreatLevel(level: level, name: text(f, "name", "threat level", in: node, required: false) ?? "level \(level)", allowedGroups: groups))
    }
}
