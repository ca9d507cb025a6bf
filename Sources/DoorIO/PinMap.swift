import Foundation
import WardenCore
import Yams

/// A board's wiring: for each door, which line is the lock relay, the door contact, the
/// exit button, tamper, reader LED and buzzer, and the Wiegand data lines. YAML, one file
/// per board (see hardware/pinmaps/).
public struct PinMap: Sendable, Equatable {
    public struct DoorPins: Sendable, Equatable {
        /// The lock relay line; nil only where the door's OSDP reader drives the strike.
        public var relay: LineSpec?
        public var failMode: DoorBehaviour.FailMode
        public var contact: LineSpec?
        public var exit: LineSpec?
        public var tamper: LineSpec?
        public var led: LineSpec?
        public var buzzer: LineSpec?
        public var wiegandD0: LineSpec?
        public var wiegandD1: LineSpec?
        /// Card formats the door's reader may send (Wiegand lines or OSDP raw bits).
        public var wiegandFormats: [String]
        public var exitMode: DoorBehaviour.ExitMode
        /// An OSDP reader (RS-485) instead of Wiegand lines.
        public var osdp: OSDPWiring? = nil
    }

    /// Where a door's OSDP reader is: a serial port shared by every reader on that bus,
    /// and the reader's address on it.
    public struct OSDPWiring: Sendable, Equatable, Hashable {
        public var port: String
        public var address: Int
        public var baud: Int
        /// The reader's output that drives the door's strike (fail-secure doors only), in
        /// place of a relay line.
        public var strikeOutput: Int?
        public init(port: String, address: Int, baud: Int, strikeOutput: Int? = nil) {
            self.port = port; self.address = address; self.baud = baud; self.strikeOutput = strikeOutput
        }
    }

    public var board: String
    public var doors: [String: DoorPins]
    public var fireAlarm: LineSpec?
    public var customFormats: [WiegandFormat]

    /// Every line with its door and role, for checks.
    public var allLines: [(door: String, role: String, spec: LineSpec, output: Bool)] {
        var out: [(String, String, LineSpec, Bool)] = []
        for (id, d) in doors.sorted(by: { $0.key < $1.key }) {
            if let r = d.relay { out.append((id, "relay", r, true)) }
            let roles: [(String, LineSpec?, Bool)] = [("contact", d.contact, false), ("exit", d.exit, false), ("tamper", d.tamper, false),
                                                      ("led", d.led, true), ("buzzer", d.buzzer, true), ("wiegand-d0", d.wiegandD0, false), ("wiegand-d1", d.wiegandD1, false)]
            for (r, s, o) in roles { if let s { out.append((id, r, s, o)) } }
        }
        if let f = fireAlarm { out.append(("site", "fire-alarm", f, false)) }
        return out
    }

    public func formats(for door: String) -> [WiegandFormat] {
        let names = doors[door]?.wiegandFormats ?? []
        let all = WiegandFormat.standard + customFormats
        return names.isEmpty ? WiegandFormat.standard : all.filter { names.contains($0.name) }
    }

    // MARK: YAML

    struct File: Decodable {
        var board: String?
        var chips: [String: String]?
        var doors: [String: DoorFile]
        var fire_alarm: LineFile?
        var wiegand_formats: [FormatFile]?
    }
    struct LineFile: Decodable {
        var chip: String?; var line: Int?; var name: String?
        var active: String?; var bias: String?; var debounce: String?
        /// Door contacts: normally-closed (closed when the door is closed) or normally-open.
        var `switch`: String?
    }
    struct WiegandFile: Decodable { var d0: LineFile; var d1: LineFile; var formats: [String]? }
    struct OSDPFile: Decodable { var port: String; var address: Int; var baud: Int?; var formats: [String]?; var strike_output: Int? }
    struct DoorFile: Decodable {
        var relay: LineFile?; var fail_mode: String?; var contact: LineFile?; var exit: LineFile?; var exit_mode: String?
        var tamper: LineFile?; var led: LineFile?; var buzzer: LineFile?; var wiegand: WiegandFile?
        var osdp: OSDPFile?
    }
    struct FormatFile: Decodable {
        struct F: Decodable { var start: Int; var length: Int }
        struct P: Decodable { var bit: Int; var kind: String; var covers: String }
        var name: String; var length: Int; var facility: F; var card: F; var parity: [P]
    }

    public struct LoadError: Error, CustomStringConvertible, Sendable { public let description: String }

    public static func load(path: String) throws -> PinMap {
        let text: String
        do { text = try BoundedFile.readText(path) } catch { throw LoadError(description: "cannot read the pin map: \(error)") }
        do { return try parse(text, source: path) } catch let e as LoadError { throw e } catch {
            throw LoadError(description: "\(path): \(error)")
        }
    }

    public static func parse(_ text: String, source: String = "pin map") throws -> PinMap {
        let f = try YAMLDecoder().decode(File.self, from: text)
        let chips = f.chips ?? [:]
        func line(_ l: LineFile, _ what: String, contact: Bool = false) throws -> LineSpec {
            guard (l.chip != nil && l.line != nil) || l.name != nil else {
                throw LoadError(description: "\(source): \(what) needs chip and line, or a line name")
            }
            var activeLow = false
            if let a = l.active {
                guard ["high", "low"].contains(a) else { throw LoadError(description: "\(source): \(what): active must be high or low") }
                activeLow = a == "low"
            }
            if contact, let s = l.switch {
                // Pulled up, switch to ground: a normally-closed contact reads low while the
                // door is closed, so "open" is high; a normally-open one is the reverse.
                switch s {
                case "normally-closed": activeLow = false
                case "normally-open": activeLow = true
                default: throw LoadError(description: "\(source): \(what): switch must be normally-closed or normally-open")
                }
            }
            var bias = LineSpec.Bias.asIs
            if let b = l.bias {
                guard let v = LineSpec.Bias(rawValue: b) else { throw LoadError(description: "\(source): \(what): bias must be as-is, disabled, pull-up or pull-down") }
                bias = v
            }
            var debounce: TimeInterval = 0
            if let d = l.debounce {
                if d.hasSuffix("ms"), let v = Double(d.dropLast(2)) { debounce = v / 1000 }
                else if d.hasSuffix("s"), let v = Double(d.dropLast()) { debounce = v }
                else { throw LoadError(description: "\(source): \(what): debounce must be like 20ms") }
            }
            return LineSpec(chip: l.chip.map { chips[$0] ?? $0 }, offset: l.line, name: l.name, activeLow: activeLow, bias: bias, debounce: debounce)
        }
        var doors: [String: DoorPins] = [:]
        for (id, d) in f.doors {
            let fail = DoorBehaviour.FailMode(rawValue: d.fail_mode ?? "secure")
            guard let fail else { throw LoadError(description: "\(source): door \(id): fail_mode must be secure or safe") }
            let exitMode = DoorBehaviour.ExitMode(rawValue: d.exit_mode ?? "release")
            guard let exitMode else { throw LoadError(description: "\(source): door \(id): exit_mode must be release or quiet") }
            if d.wiegand != nil, d.osdp != nil { throw LoadError(description: "\(source): door \(id): a reader is either wiegand or osdp, not both") }
            if let o = d.osdp {
                guard (0...126).contains(o.address) else { throw LoadError(description: "\(source): door \(id): osdp address must be 0 to 126 (127 is broadcast)") }
                guard [9600, 19200, 38400, 57600, 115200].contains(o.baud ?? 9600) else {
                    throw LoadError(description: "\(source): door \(id): osdp baud must be 9600, 19200, 38400, 57600 or 115200")
                }
                guard !o.port.isEmpty else { throw LoadError(description: "\(source): door \(id): osdp needs a port, like /dev/ttyUSB0") }
                if let out = o.strike_output {
                    guard (0...255).contains(out) else { throw LoadError(description: "\(source): door \(id): osdp strike_output must be 0 to 255") }
                    guard d.relay == nil else { throw LoadError(description: "\(source): door \(id): the strike is either the relay line or the reader's strike_output, not both") }
                    // A reader's output keeps its state when the controller dies; only timed
                    // pulses end by themselves, and those can only ever lock a door.
                    guard fail == .secure else { throw LoadError(description: "\(source): door \(id): a reader-driven strike must be fail_mode: secure (a fail-safe lock needs a relay line that drops with the controller)") }
                }
            }
            guard d.relay != nil || d.osdp?.strike_output != nil else { throw LoadError(description: "\(source): door \(id) needs a relay line (or an osdp reader with strike_output)") }
            doors[id] = DoorPins(relay: try d.relay.map { try line($0, "door \(id) relay") }, failMode: fail,
                                 contact: try d.contact.map { try line($0, "door \(id) contact", contact: true) },
                                 exit: try d.exit.map { try line($0, "door \(id) exit") }, tamper: try d.tamper.map { try line($0, "door \(id) tamper") },
                                 led: try d.led.map { try line($0, "door \(id) led") }, buzzer: try d.buzzer.map { try line($0, "door \(id) buzzer") },
                                 wiegandD0: try d.wiegand.map { try line($0.d0, "door \(id) wiegand d0") },
                                 wiegandD1: try d.wiegand.map { try line($0.d1, "door \(id) wiegand d1") },
                                 wiegandFormats: d.wiegand?.formats ?? d.osdp?.formats ?? [], exitMode: exitMode,
                                 osdp: d.osdp.map { OSDPWiring(port: $0.port, address: $0.address, baud: $0.baud ?? 9600, strikeOutput: $0.strike_output) })
        }
        var seen: [String: String] = [:]
        for (id, d) in doors.sorted(by: { $0.key < $1.key }) {
            guard let o = d.osdp else { continue }
            let key = "\(o.port)#\(o.address)"
            if let other = seen[key] { throw LoadError(description: "\(source): doors \(other) and \(id) both name osdp address \(o.address) on \(o.port)") }
            seen[key] = id
            if let clash = doors.values.compactMap(\.osdp).first(where: { $0.port == o.port && $0.baud != o.baud }) {
                throw LoadError(description: "\(source): door \(id): every reader on \(o.port) must use one baud rate (\(o.baud) and \(clash.baud))")
            }
        }
        var custom: [WiegandFormat] = []
        for c in f.wiegand_formats ?? [] {
            func positions(_ s: String) throws -> [Int] {
                var out: [Int] = []
                for part in s.split(separator: ",") {
                    let r = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                    if r.count == 1, let a = r[0] { out.append(a) }
                    else if r.count == 2, let a = r[0], let b = r[1], a <= b { out += Array(a...b) }
                    else { throw LoadError(description: "\(source): format \(c.name): bad position list '\(s)'") }
                }
                return out
            }
            let parities = try c.parity.map { p -> WiegandFormat.Parity in
                guard let kind = WiegandFormat.Parity.Kind(rawValue: p.kind) else { throw LoadError(description: "\(source): format \(c.name): parity kind must be even or odd") }
                return WiegandFormat.Parity(bit: p.bit, kind: kind, covers: try positions(p.covers))
            }
            let fmt = WiegandFormat(name: c.name, length: c.length, facility: .init(start: c.facility.start, length: c.facility.length),
                                    card: .init(start: c.card.start, length: c.card.length), parities: parities)
            let used = [fmt.facility.start..<(fmt.facility.start + fmt.facility.length), fmt.card.start..<(fmt.card.start + fmt.card.length)]
            guard used.allSatisfy({ $0.upperBound <= fmt.length }), parities.allSatisfy({ $0.bit < fmt.length && $0.covers.allSatisfy { $0 < fmt.length && $0 >= 0 } }),
                  fmt.facility.length <= 32, fmt.card.length <= 62 else {
                throw LoadError(description: "\(source): format \(c.name): a field or parity lies outside its \(c.length) bits")
            }
            custom.append(fmt)
        }
        return PinMap(board: f.board ?? "unnamed", doors: doors, fireAlarm: try f.fire_alarm.map { try line($0, "fire alarm") }, customFormats: custom)
    }
}
