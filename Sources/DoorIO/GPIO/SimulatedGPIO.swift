import Foundation
import WardenCore

/// An in-memory GPIO chip set, driven by a clock the test controls. Tests set input
/// levels with `drive`, read outputs with `level`/`history`, and see the same edge events
/// and busy-line errors a real chip gives.
public final class SimulatedGPIO: GPIOBackend, @unchecked Sendable {
    public let clock: any WardenClock
    private let lock = NSLock()
    /// Physical levels by "chip:offset".
    private var levels: [String: Bool] = [:]
    private var names: [String: String] = [:]   // line name -> key
    private var holders: [String: String] = [:]
    private var outputHistory: [String: [(Date, Bool)]] = [:]
    private var inputs: [String: [WeakInput]] = [:]
    public let chips: [String: Int]

    /// `chips`: chip name -> number of lines. `lineNames`: name -> (chip, offset).
    public init(clock: any WardenClock, chips: [String: Int] = ["sim0": 32], lineNames: [String: (String, Int)] = [:]) {
        self.clock = clock
        self.chips = chips
        for (n, (c, o)) in lineNames { names[n] = "\(c):\(o)" }
    }

    func key(_ spec: LineSpec) throws(GPIOError) -> String {
        if let name = spec.name {
            guard let k = names[name] else { throw .lineNotFound(spec.description) }
            return k
        }
        guard let chip = spec.chip, let count = chips[chip] else { throw .chipNotFound(spec.chip ?? "?") }
        guard let o = spec.offset, (0..<count).contains(o) else { throw .lineNotFound(spec.description) }
        return "\(chip):\(o)"
    }

    public func output(_ spec: LineSpec, consumer: String, initiallyActive: Bool) throws(GPIOError) -> any GPIOOutput {
        let k = try key(spec)
        lock.lock(); defer { lock.unlock() }
        if let h = holders[k] { throw .lineBusy(spec.description, consumer: h) }
        holders[k] = consumer
        let physical = initiallyActive != spec.activeLow
        levels[k] = physical
        outputHistory[k, default: []].append((clock.now, physical))
        return SimOutput(sim: self, key: k, spec: spec)
    }

    public func input(_ spec: LineSpec, consumer: String) throws(GPIOError) -> any GPIOInput {
        let k = try key(spec)
        lock.lock(); defer { lock.unlock() }
        if let h = holders[k] { throw .lineBusy(spec.description, consumer: h) }
        holders[k] = consumer
        let line = SimInput(sim: self, key: k, spec: spec)
        inputs[k, default: []].append(WeakInput(line))
        return line
    }

    public func holder(of spec: LineSpec) throws(GPIOError) -> String? {
        let k = try key(spec)
        lock.lock(); defer { lock.unlock() }
        return holders[k]
    }

    /// Sets an input's physical level (as a switch or a reader would), at the clock's time.
    public func drive(_ spec: LineSpec, high: Bool) throws(GPIOError) { try drive(spec, high: high, at: clock.now) }

    /// The same, stamped with a given time: a scripted reader clocks a frame's bits at
    /// their own spacing, whatever the scheduler does to the process meanwhile (a test
    /// machine under load overslept a 2 ms pause by more than the 25 ms frame gap).
    public func drive(_ spec: LineSpec, high: Bool, at: Date) throws(GPIOError) {
        let k = try key(spec)
        lock.lock()
        let old = levels[k] ?? false
        levels[k] = high
        let listeners = inputs[k]?.compactMap(\.line) ?? []
        lock.unlock()
        if old != high { for l in listeners { l.push(physicalHigh: high, at: at) } }
    }

    /// An output's current physical level (nil: never driven). Like a real chip, a released
    /// line returns to low.
    public func level(_ spec: LineSpec) -> Bool? {
        guard let k = try? key(spec) else { return nil }
        lock.lock(); defer { lock.unlock() }
        return levels[k]
    }

    public func history(_ spec: LineSpec) -> [(at: Date, high: Bool)] {
        guard let k = try? key(spec) else { return [] }
        lock.lock(); defer { lock.unlock() }
        return (outputHistory[k] ?? []).map { (at: $0.0, high: $0.1) }
    }

    fileprivate func set(_ k: String, physical: Bool) {
        lock.lock(); levels[k] = physical; outputHistory[k, default: []].append((clock.now, physical)); lock.unlock()
    }

    fileprivate func physical(_ k: String) -> Bool { lock.lock(); defer { lock.unlock() }; return levels[k] ?? false }

    fileprivate func release(_ k: String, output: Bool) {
        lock.lock()
        holders[k] = nil
        if output { levels[k] = false; outputHistory[k, default: []].append((clock.now, false)) }
        lock.unlock()
    }

    struct WeakInput { weak var line: SimInput?; init(_ l: SimInput) { line = l } }
}

final class SimOutput: GPIOOutput, @unchecked Sendable {
    let sim: SimulatedGPIO
    let key: String
    let spec: LineSpec
    var released = false
    init(sim: SimulatedGPIO, key: String, spec: LineSpec) { self.sim = sim; self.key = key; self.spec = spec }
    func setActive(_ active: Bool) throws(GPIOError) {
        guard !released else { throw .io("\(spec) was released") }
        sim.set(key, physical: active != spec.activeLow)
    }
    func release() { if !released { released = true; sim.release(key, output: true) } }
}

final class SimInput: GPIOInput, @unchecked Sendable {
    let sim: SimulatedGPIO
    let key: String
    let spec: LineSpec
    private let lock = NSLock()
    private var pending: [LineEdge] = []
    init(sim: SimulatedGPIO, key: String, spec: LineSpec) { self.sim = sim; self.key = key; self.spec = spec }
    func push(physicalHigh: Bool, at: Date) {
        lock.lock(); pending.append(LineEdge(becameActive: physicalHigh != spec.activeLow, at: at)); lock.unlock()
    }
    func readActive() throws(GPIOError) -> Bool { sim.physical(key) != spec.activeLow }
    /// Never blocks: simulated time does not pass while waiting.
    func waitForEdges(timeout: TimeInterval) throws(GPIOError) -> [LineEdge] {
        lock.lock(); defer { pending = []; lock.unlock() }
        return pending
    }
    func release() { sim.release(key, output: false) }
}

extension SimulatedGPIO {
    /// A simulated chip for each chip a pin map names (64 lines each).
    public convenience init(clock: any WardenClock, pinMap: PinMap) {
        let chips = Set(pinMap.allLines.compactMap(\.spec.chip))
        self.init(clock: clock, chips: Dictionary(uniqueKeysWithValues: chips.map { ($0, 64) }))
    }

    /// Inputs at the levels pull-ups and closed doors leave them: exit, tamper and Wiegand
    /// lines high, door contacts closed. Only `doors` when given.
    public func setIdleLevels(_ pinMap: PinMap, doors: Set<String>? = nil) throws(GPIOError) {
        for (id, pins) in pinMap.doors where doors?.contains(id) ?? true {
            for s in [pins.exit, pins.tamper, pins.wiegandD0, pins.wiegandD1].compactMap({ $0 }) { try drive(s, high: true) }
            if let c = pins.contact { try drive(c, high: false) }
        }
    }
}

extension SimulatedGPIO {
    /// Presents a card at a door's reader: its bits are clocked onto D0/D1 as a reader sends
    /// them (a 100 µs low pulse per bit, 2 ms apart). `advance` moves the simulated clock;
    /// `afterEachBit` lets the door loop read the lines, as it would between bits.
    public func presentCard(_ badge: BadgeCredential, door: String, pinMap: PinMap, advance: (TimeInterval) -> Void, afterEachBit: () -> Void) throws {
        guard let pins = pinMap.doors[door], let d0 = pins.wiegandD0, let d1 = pins.wiegandD1 else { throw SimulatedReaderError("door \(door) has no reader") }
        guard let bits = pinMap.wiegandBits(door: door, badge: badge) else { throw SimulatedReaderError("\(badge) does not fit the formats of door \(door)") }
        for bit in bits {
            let line = bit ? d1 : d0
            try drive(line, high: false); advance(0.0001)
            try drive(line, high: true); advance(0.0019)
            afterEachBit()
        }
    }
}

/// A card that cannot be presented at a simulated door.
public struct SimulatedReaderError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension PinMap {
    /// The bits a reader at `door` sends for a card, in the first of the door's formats
    /// that carries the card's badge format (H10301 if none does).
    public func wiegandBits(door: String, badge: BadgeCredential) -> [Bool]? {
        let format = formats(for: door).first { $0.badgeFormat == badge.format } ?? .h10301
        return format.encode(facility: badge.facilityCode, card: badge.cardNumber)
    }
}
