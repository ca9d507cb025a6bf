import Foundation
import WardenCore

/// Accepts a level only once it has held for the debounce time.
struct Debouncer: Sendable {
    var accepted: Bool
    var candidate: Bool
    var since: Date
    let hold: TimeInterval

    init(level: Bool, at: Date, hold: TimeInterval) { accepted = level; candidate = level; since = at; self.hold = hold }

    /// Takes one edge, in time order. Returns the level accepted before it when the level
    /// it ends had already held for the debounce time: edges read late in one batch (a
    /// board that stalled for longer than the door stayed open) still count that opening.
    mutating func edge(_ active: Bool, at: Date) -> Bool? {
        var held: Bool? = nil
        if candidate != accepted, at.timeIntervalSince(since) >= hold { accepted = candidate; held = accepted }
        if active != candidate { candidate = active; since = at }
        return held
    }

    /// The newly accepted level, if the candidate has now held long enough.
    mutating func settle(now: Date) -> Bool? {
        guard candidate != accepted, now.timeIntervalSince(since) >= hold else { return nil }
        accepted = candidate
        return accepted
    }

    var deadline: Date? { candidate != accepted ? since.addingTimeInterval(hold) : nil }
}

/// What a door driver reports upward.
public enum DoorReport: Sendable, Equatable {
    case door(DoorEvent, detail: String?)
    case badge(WiegandRead)
    /// What a networked reader reported besides cards and tamper (see `ReaderInput`).
    case reader(ReaderInput)
    case fault(String)
}

/// Drives one door's hardware: holds its lines, feeds their edges to the state machine and
/// the Wiegand decoder, and drives the relay from the machine's lock commands, mapped to
/// the relay line through the door's fail mode. Single-threaded: call from one thread.
public final class DoorDriver: @unchecked Sendable {
    public let id: String
    public let pins: PinMap.DoorPins
    public private(set) var machine: DoorStateMachine
    let backend: any GPIOBackend
    let clock: any WardenClock
    private var relay: (any GPIOOutput)?
    private var contact: (line: any GPIOInput, debounce: Debouncer)?
    private var exit: (any GPIOInput)?
    private var tamper: (any GPIOInput)?
    private var d0: (any GPIOInput)?
    private var d1: (any GPIOInput)?
    /// Threads emptying D0/D1's event queues (real GPIO only; see EdgeCollector).
    private var d0Edges: EdgeCollector?
    private var d1Edges: EdgeCollector?
    private var wiegand: WiegandDecoder
    private var led: (any GPIOOutput)?
    private var buzzer: (any GPIOOutput)?
    private var ledUntil: Date?
    private var buzzerUntil: Date?
    /// The door's OSDP reader, when it has one instead of (or beside) Wiegand lines.
    public let reader: (any ReaderPort)?
    /// Asked when the exit button is pressed: a reason to leave the lock as it is (another
    /// door of an interlock is open), or nil to release as usual. The press is recorded
    /// either way.
    public var exitRefusal: (() -> String?)?

    public init(id: String, pins: PinMap.DoorPins, behaviour: DoorBehaviour, formats: [WiegandFormat], backend: any GPIOBackend, clock: any WardenClock,
                reader: (any ReaderPort)? = nil) {
        self.reader = reader
        self.id = id
        self.pins = pins
        var b = behaviour
        b.failMode = pins.failMode
        b.exitMode = pins.exitMode
        self.machine = DoorStateMachine(behaviour: b)
        self.backend = backend
        self.clock = clock
        self.wiegand = WiegandDecoder(formats: formats)
    }

    public static let consumer = "warden"

    /// Requests every line. The relay starts locked. On failure, whatever was requested is
    /// released again (the lines fall back to the safe state) and the error is thrown.
    public func start() throws(GPIOError) {
        do {
            if let line = pins.relay {
                relay = try backend.output(line, consumer: Self.consumer + ":\(id):relay",
                                           initiallyActive: DoorStateMachine.relayActive(released: false, failMode: pins.failMode))
            }
            if let c = pins.contact {
                let line = try backend.input(c, consumer: Self.consumer + ":\(id):contact")
                let level = try line.readActive()
                contact = (line, Debouncer(level: level, at: clock.now, hold: c.debounce))
                if level { _ = machine.handle(.contact(open: true), at: clock.now) }
            }
            if let e = pins.exit { exit = try backend.input(e, consumer: Self.consumer + ":\(id):exit") }
            if let t = pins.tamper { tamper = try backend.input(t, consumer: Self.consumer + ":\(id):tamper") }
            if let l = pins.led { led = try backend.output(l, consumer: Self.consumer + ":\(id):led", initiallyActive: false) }
            if let b = pins.buzzer { buzzer = try backend.output(b, consumer: Self.consumer + ":\(id):buzzer", initiallyActive: false) }
            if let a = pins.wiegandD0, let b = pins.wiegandD1 {
                d0 = try backend.pulseInput(a, consumer: Self.consumer + ":\(id):d0")
                d1 = try backend.pulseInput(b, consumer: Self.consumer + ":\(id):d1")
                if backend.waitsBlock, let d0, let d1 {
                    d0Edges = EdgeCollector(line: d0, name: "\(id).d0")
                    d1Edges = EdgeCollector(line: d1, name: "\(id).d1")
                }
            }
        } catch {
            safeStop()
            throw error
        }
    }

    /// Releases the strike for a grant.
    public func grant(strikeTime: TimeInterval? = nil) -> [DoorReport] { apply(machine.handle(.grant(strikeTime: strikeTime), at: clock.now)) }

    public func setMode(_ mode: DoorHardwareMode) -> [DoorReport] { apply(machine.handle(.mode(mode), at: clock.now)) }

    /// Reader feedback: the LED lights for the strike time on a grant; the buzzer sounds
    /// briefly on a denial.
    public func signal(granted: Bool) {
        reader?.signal(granted ? .granted(seconds: machine.behaviour.strikeTime) : .denied)
        if granted {
            try? led?.setActive(true)
            ledUntil = clock.now.addingTimeInterval(machine.behaviour.strikeTime)
        } else {
            try? buzzer?.setActive(true)
            buzzerUntil = clock.now.addingTimeInterval(0.5)
        }
    }

    /// The strike on the reader's output: released only ever as a timed pulse, which the
    /// reader ends by itself, so a controller that dies leaves the door locked within
    /// `readerStrikePulse`; a longer release (a door mode) is renewed while it lasts.
    private var readerStrikeRenewal: Date?
    static let readerStrikePulse: TimeInterval = 10

    /// Does nothing at a door whose strike is a relay line.
    private func driveReaderStrike(released: Bool) {
        guard let n = pins.osdp?.strikeOutput, let reader else { return }
        if released {
            let pulse = min(Self.readerStrikePulse, machine.nextDeadline.map { max(0.1, $0.timeIntervalSince(clock.now)) } ?? Self.readerStrikePulse)
            reader.output(n, on: true, seconds: pulse)
            readerStrikeRenewal = clock.now.addingTimeInterval(pulse / 2)
        } else {
            reader.output(n, on: false, seconds: 0)
            readerStrikeRenewal = nil
        }
    }

    /// A badge was read and its holder's face is wanted (readers with an LED of their own).
    public func signalLookAtCamera() { reader?.signal(.lookAtCamera) }

    /// Reads pending edges and expired timers; returns what happened. Never blocks.
    public func pump() -> [DoorReport] {
        var reports: [DoorReport] = []
        do {
            var pulses: [WiegandPulse] = []
            let e0 = try d0Edges?.take() ?? d0?.waitForEdges(timeout: 0) ?? []
            let e1 = try d1Edges?.take() ?? d1?.waitForEdges(timeout: 0) ?? []
            for e in e0 where e.becameActive { pulses.append(WiegandPulse(line: .d0, at: e.at)) }
            for e in e1 where e.becameActive { pulses.append(WiegandPulse(line: .d1, at: e.at)) }
            for p in pulses.sorted(by: { $0.at < $1.at }) { if let r = wiegand.feed(p) { reports.append(.badge(r)) } }
            if let r = wiegand.poll(now: clock.now) { reports.append(.badge(r)) }
            for input in reader?.takeInputs() ?? [] {
                switch input {
                case .card(let r): reports.append(.badge(r))
                case .tamper(let active): reports += apply(machine.handle(.tamper(active: active), at: clock.now))
                default: reports.append(.reader(input))
                }
            }

            if var c = contact {
                for e in try c.line.waitForEdges(timeout: 0).sorted(by: { $0.at < $1.at }) {
                    if let level = c.debounce.edge(e.becameActive, at: e.at) { reports += apply(machine.handle(.contact(open: level), at: clock.now)) }
                }
                if let level = c.debounce.settle(now: clock.now) { reports += apply(machine.handle(.contact(open: level), at: clock.now)) }
                contact = c
            }
            for e in try exit?.waitForEdges(timeout: 0) ?? [] where e.becameActive {
                if let why = exitRefusal?() { reports.append(.door(.requestToExit, detail: "refused: \(why)")) } else {
                    reports += apply(machine.handle(.requestToExit, at: clock.now))
                }
            }
            for e in try tamper?.waitForEdges(timeout: 0) ?? [] {
                reports += apply(machine.handle(.tamper(active: e.becameActive), at: clock.now))
            }
            if let d = machine.nextDeadline, clock.now >= d { reports += apply(machine.handle(.tick, at: clock.now)) }
            if let r = readerStrikeRenewal, clock.now >= r { driveReaderStrike(released: true) }
            if let u = ledUntil, clock.now >= u { try led?.setActive(false); ledUntil = nil }
            if let u = buzzerUntil, clock.now >= u { try buzzer?.setActive(false); buzzerUntil = nil }
        } catch {
            reports.append(.fault("door \(id): \(error)"))
        }
        return reports
    }

    /// The earliest time `pump` has timed work to do (a strike ending, an alarm, a Wiegand
    /// frame gap, a contact settling).
    public var nextDeadline: Date? {
        [machine.nextDeadline, wiegand.frameDeadline, contact?.debounce.deadline, ledUntil, buzzerUntil].compactMap { $0 }.min()
    }

    private func apply(_ outputs: [DoorOutput]) -> [DoorReport] {
        var reports: [DoorReport] = []
        for o in outputs {
            switch o {
            case .lock(let released):
                do { try relay?.setActive(DoorStateMachine.relayActive(released: released, failMode: pins.failMode)) } catch {
                    reports.append(.fault("door \(id): cannot drive the relay: \(error)"))
                }
                driveReaderStrike(released: released)
            case .event(let e, let detail): reports.append(.door(e, detail: detail))
            }
        }
        return reports
    }

    /// Every exit path: drive the relay to the safe state, then release every line (the
    /// kernel then leaves the relay line inactive, which the wiring makes the safe state).
    public func safeStop() {
        try? relay?.setActive(false)
        driveReaderStrike(released: false)
        d0Edges?.stop(); d1Edges?.stop()
        d0Edges = nil; d1Edges = nil
        for line in [exit, tamper, d0, d1, contact?.line].compactMap({ $0 }) { line.release() }
        for out in [led, buzzer].compactMap({ $0 }) { try? out.setActive(false); out.release() }
        relay?.release()
        relay = nil; exit = nil; tamper = nil; d0 = nil; d1 = nil; contact = nil; led = nil; buzzer = nil
    }
}
