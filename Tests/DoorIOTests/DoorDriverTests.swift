import Foundation
import WardenTestSupport
import Testing
import WardenCore
@testable import DoorIO

/// Contract tests: what any GPIO backend must do. They run here on the simulated backend;
/// the hardware-in-the-loop VM runs the same behaviour against the kernel's gpio-sim.
@Suite("Door driver on simulated GPIO", .serialized)
struct DoorDriverTests {
    let pins = try! PinMap.load(path: TestCheckout.path("hardware/pinmaps/gpio-sim.yaml"))

    func rig(_ door: String = "lobby", failMode: DoorBehaviour.FailMode? = nil) throws -> (DoorDriver, SimulatedGPIO, ManualClock, PinMap.DoorPins) {
        let clock = ManualClock()
        let sim = SimulatedGPIO(clock: clock, chips: ["gpio-sim.0-node0": 32])
        var p = pins.doors[door]!
        if let failMode { p.failMode = failMode }
        // Idle levels, as the pull-ups would leave them: contact closed (low), buttons and
        // Wiegand lines high.
        for spec in [p.exit, p.tamper, p.wiegandD0, p.wiegandD1].compactMap({ $0 }) { try sim.drive(spec, high: true) }
        if let c = p.contact { try sim.drive(c, high: false) }
        let driver = DoorDriver(id: door, pins: p, behaviour: DoorBehaviour(strikeTime: 5, heldOpenTime: 30, preAlarm: 10),
                                formats: pins.formats(for: door), backend: sim, clock: clock)
        try driver.start()
        return (driver, sim, clock, p)
    }

    func doorEvents(_ r: [DoorReport]) -> [DoorEvent] { r.compactMap { if case .door(let e, _) = $0 { return e }; return nil } }

    @Test func aGrantPulsesTheRelayForTheStrikeTime() throws {
        let (d, sim, clock, p) = try rig(failMode: .secure)
        #expect(sim.level(p.relay!) == false)  // starts locked
        #expect(doorEvents(d.grant()) == [.released])
        #expect(sim.level(p.relay!) == true)
        clock.advance(by: 4.9)
        #expect(d.pump().isEmpty && sim.level(p.relay!) == true)
        clock.advance(by: 0.1)
        #expect(doorEvents(d.pump()) == [.grantedNotOpened, .relocked])
        #expect(sim.level(p.relay!) == false)
        d.safeStop()
    }

    @Test func theContactIsDebounced() throws {
        let (d, sim, clock, p) = try rig(failMode: .secure)
        _ = d.grant()
        let c = p.contact!
        // Bounce: open, closed, open within 10 ms, then it stays open.
        try sim.drive(c, high: true); clock.advance(by: 0.004)
        try sim.drive(c, high: false); clock.advance(by: 0.003)
        try sim.drive(c, high: true)
        #expect(doorEvents(d.pump()).isEmpty)  // not yet settled
        clock.advance(by: 0.019)
        #expect(doorEvents(d.pump()).isEmpty)
        clock.advance(by: 0.002)
        #expect(doorEvents(d.pump()) == [.opened])
        try sim.drive(c, high: false); clock.advance(by: 0.025)
        #expect(doorEvents(d.pump()) == [.closed, .relocked])
        #expect(sim.level(p.relay!) == false)
        d.safeStop()
    }

    /// A board that stalls for longer than the door stayed open reads both edges in one
    /// batch: the opening held past the debounce time, so it is still a forced open, not
    /// lost. A bounce read late in a batch still counts for nothing.
    @Test func anOpeningReadLateIsStillSeen() throws {
        let (d, sim, clock, p) = try rig()
        try sim.drive(p.contact!, high: true); clock.advance(by: 0.5)
        try sim.drive(p.contact!, high: false); clock.advance(by: 0.03)
        #expect(doorEvents(d.pump()) == [.forcedOpen, .closed, .forcedOpenCleared])
        try sim.drive(p.contact!, high: true); clock.advance(by: 0.005)
        try sim.drive(p.contact!, high: false); clock.advance(by: 0.03)
        #expect(doorEvents(d.pump()).isEmpty, "a 5 ms bounce is not an opening")
        d.safeStop()
    }

    @Test func forcedOpenAndExitButton() throws {
        let (d, sim, clock, p) = try rig()
        try sim.drive(p.contact!, high: true); clock.advance(by: 0.03)
        #expect(doorEvents(d.pump()) == [.forcedOpen])
        try sim.drive(p.contact!, high: false); clock.advance(by: 0.03)
        #expect(doorEvents(d.pump()) == [.closed, .forcedOpenCleared])
        // REX: the button pulls the line low (active-low).
        try sim.drive(p.exit!, high: false)
        #expect(doorEvents(d.pump()) == [.requestToExit, .released])
        #expect(sim.level(p.relay!) == false)  // the lobby is fail-safe: released = relay off
        try sim.drive(p.exit!, high: true)
        d.safeStop()
    }

    @Test func aBadgeClockedInOnTheDataLines() throws {
        let (d, sim, clock, p) = try rig()
        let bits = WiegandFormat.h10301.encode(facility: 12, card: 345)!
        var reports: [DoorReport] = []
        for bit in bits {
            let line = bit ? p.wiegandD1! : p.wiegandD0!
            try sim.drive(line, high: false); clock.advance(by: 0.0001)
            try sim.drive(line, high: true); clock.advance(by: 0.0019)
            reports += d.pump()
        }
        clock.advance(by: 0.03)
        reports += d.pump()
        #expect(reports == [.badge(.card(format: "H10301", facility: 12, card: 345))])
        d.safeStop()
    }

    @Test func tamperAndHeldOpen() throws {
        let (d, sim, clock, p) = try rig()
        try sim.drive(p.tamper!, high: false)
        #expect(doorEvents(d.pump()) == [.tamper])
        _ = d.grant()
        try sim.drive(p.contact!, high: true); clock.advance(by: 0.03)
        #expect(doorEvents(d.pump()) == [.opened])
        clock.advance(by: 20)
        #expect(doorEvents(d.pump()) == [.heldOpenPrealarm])
        clock.advance(by: 10)
        #expect(doorEvents(d.pump()) == [.heldOpen])
        d.safeStop()
    }

    @Test func everyExitPathLeavesTheRelayInactiveAndFree() throws {
        for mode in [DoorBehaviour.FailMode.secure, .safe] {
            let (d, sim, _, p) = try rig(failMode: mode)
            // Running and locked: a fail-safe maglock is energised to lock.
            #expect(sim.level(p.relay!) == (mode == .safe))
            _ = d.grant()
            #expect(sim.level(p.relay!) == (mode == .secure))
            d.safeStop()
            #expect(sim.level(p.relay!) == false)
            #expect(try sim.holder(of: p.relay!) == nil && (try sim.holder(of: p.contact!)) == nil)
        }
    }

    @Test func busyLinesFailTheStartAndReleaseWhatWasTaken() throws {
        let (first, sim, clock, p) = try rig()
        let second = DoorDriver(id: "lobby", pins: p, behaviour: DoorBehaviour(), formats: [], backend: sim, clock: clock)
        #expect { try second.start() } throws: { error in
            guard case .lineBusy(_, let holder) = error as? GPIOError else { return false }
            return holder == "warden:lobby:relay"
        }
        first.safeStop()
        // After the first lets go, the second can start.
        try second.start()
        second.safeStop()
    }

    @Test func missingChipsAndLinesAreReportedByTheRealBackend() {
        // libgpiod against this machine's (absent) GPIO chips: the adapter's error path.
        let real = LibgpiodGPIO()
        #expect(throws: GPIOError.chipNotFound("no-such-chip")) {
            try real.output(LineSpec(chip: "no-such-chip", offset: 0), consumer: "test", initiallyActive: false)
        }
        #expect(throws: GPIOError.lineNotFound("line 'NO_SUCH_LINE' on no-such-chip")) {
            try real.input(LineSpec(chip: "no-such-chip", name: "NO_SUCH_LINE"), consumer: "test")
        }
    }

    @Test func shippedPinMapsParse() throws {
        #expect(pins.doors.count == 3 && pins.fireAlarm != nil)
        #expect(pins.doors["lobby"]!.contact!.debounce == 0.02)
        let pi = try PinMap.load(path: TestCheckout.path("hardware/pinmaps/raspberry-pi-relay-hat.yaml"))
        // The shipped maps name the example policy's doors (policies/example).
        #expect(pi.doors["lobby"]?.failMode == .safe && pi.doors["lobby"]?.exitMode == .quiet && pi.doors["lobby"]?.wiegandD0?.name == "GPIO13")
        #expect(pi.doors["server-room"]?.relay == LineSpec(name: "GPIO26", activeLow: true))
        #expect(throws: PinMap.LoadError.self) { try PinMap.parse("doors:\n  d: {relay: {chip: c}}\n") }
        #expect(throws: PinMap.LoadError.self) { try PinMap.parse("doors:\n  d: {relay: {chip: c, line: 1}, fail_mode: maybe}\n") }
        let osdp = try PinMap.load(path: TestCheckout.path("hardware/pinmaps/osdp-rs485.yaml"))
        #expect(osdp.doors["server-room"]?.osdp?.address == 1 && osdp.doors["lobby"]?.osdp?.address == 2 && osdp.doors["lobby"]?.osdp?.baud == 9600)
        #expect(osdp.formats(for: "server-room").map(\.name) == ["H10301", "H10304"])
    }

    /// An OSDP reader's wiring is checked where the pin map is read, each mistake named.
    @Test func osdpWiringMistakesAreRefusedWithTheirReason() throws {
        func refusal(_ doors: String) -> String? {
            do { _ = try PinMap.parse("doors:\n" + doors); return nil } catch { return "\(error)" }
        }
        let relay = "relay: {chip: c, line: 1}"
        #expect(refusal("  d: {\(relay), osdp: {port: /dev/ttyUSB0, address: 127}}\n")?.contains("0 to 126") == true)
        #expect(refusal("  d: {\(relay), osdp: {port: /dev/ttyUSB0, address: 1, baud: 4800}}\n")?.contains("baud") == true)
        #expect(refusal("  d: {\(relay), osdp: {port: /dev/ttyUSB0, address: 1}, wiegand: {d0: {chip: c, line: 2}, d1: {chip: c, line: 3}}}\n")?.contains("not both") == true)
        #expect(refusal("  a: {\(relay), osdp: {port: /dev/ttyUSB0, address: 1}}\n  b: {relay: {chip: c, line: 2}, osdp: {port: /dev/ttyUSB0, address: 1}}\n")?.contains("both name osdp address 1") == true)
        #expect(refusal("  a: {\(relay), osdp: {port: /dev/ttyUSB0, address: 1, baud: 9600}}\n  b: {relay: {chip: c, line: 2}, osdp: {port: /dev/ttyUSB0, address: 2, baud: 19200}}\n")?.contains("one baud rate") == true)
        #expect(refusal("  a: {\(relay), osdp: {port: /dev/ttyUSB0, address: 1}}\n  b: {relay: {chip: c, line: 2}, osdp: {port: /dev/ttyUSB1, address: 1}}\n") == nil)
        #expect(refusal("  d: {fail_mode: safe, osdp: {port: /dev/ttyUSB0, address: 1, strike_output: 0}}\n")?.contains("fail_mode: secure") == true)
        #expect(refusal("  d: {\(relay), osdp: {port: /dev/ttyUSB0, address: 1, strike_output: 0}}\n")?.contains("not both") == true)
        #expect(refusal("  d: {osdp: {port: /dev/ttyUSB0, address: 1}}\n")?.contains("needs a relay line") == true)
        #expect(refusal("  d: {osdp: {port: /dev/ttyUSB0, address: 1, strike_output: 0}}\n") == nil)
    }
}
