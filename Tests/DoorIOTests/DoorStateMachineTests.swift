import Foundation
import Testing
@testable import DoorIO

@Suite("Door state machine")
struct DoorStateMachineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ s: Double) -> Date { t0.addingTimeInterval(s) }
    func events(_ o: [DoorOutput]) -> [DoorEvent] { o.compactMap { if case .event(let e, _) = $0 { return e }; return nil } }
    func locks(_ o: [DoorOutput]) -> [Bool] { o.compactMap { if case .lock(let r) = $0 { return r }; return nil } }

    @Test func grantNotOpenedRelocksWhenTheStrikeTimeRunsOut() {
        var m = DoorStateMachine(behaviour: DoorBehaviour(strikeTime: 5))
        let g = m.handle(.grant(strikeTime: nil), at: at(0))
        #expect(events(g) == [.released] && locks(g) == [true])
        #expect(m.nextDeadline == at(5))
        #expect(m.handle(.tick, at: at(4.9)).isEmpty)
        let end = m.handle(.tick, at: at(5))
        #expect(events(end) == [.grantedNotOpened, .relocked] && locks(end) == [false])
        #expect(!m.lockReleased && m.nextDeadline == nil)
    }

    @Test func authorisedOpeningRelocksOnClose() {
        var m = DoorStateMachine(behaviour: DoorBehaviour(strikeTime: 5, heldOpenTime: 30))
        _ = m.handle(.grant(strikeTime: 3), at: at(0))
        #expect(events(m.handle(.contact(open: true), at: at(1))) == [.opened])
        // The strike time passing while the door is open does not relock it under someone.
        #expect(locks(m.handle(.tick, at: at(3))).isEmpty && m.lockReleased)
        let close = m.handle(.contact(open: false), at: at(6))
        #expect(events(close) == [.closed, .relocked] && locks(close) == [false])
    }

    @Test func openingWithoutGrantIsForcedAndClearsOnClose() {
        var m = DoorStateMachine(behaviour: DoorBehaviour())
        let o = m.handle(.contact(open: true), at: at(0))
        #expect(events(o) == [.forcedOpen] && locks(o).isEmpty && m.isAlarm)
        // A grant while forced open does not excuse it.
        #expect(events(m.handle(.contact(open: false), at: at(2))) == [.closed, .forcedOpenCleared])
        #expect(!m.isAlarm && !m.lockReleased)
        // Opening after the strike time ran out is forced too.
        _ = m.handle(.grant(strikeTime: 2), at: at(10))
        _ = m.handle(.tick, at: at(12))
        #expect(events(m.handle(.contact(open: true), at: at(13))) == [.forcedOpen])
    }

    @Test func heldOpenWarnsThenAlarmsThenClears() {
        var m = DoorStateMachine(behaviour: DoorBehaviour(strikeTime: 5, heldOpenTime: 30, preAlarm: 10))
        _ = m.handle(.grant(strikeTime: nil), at: at(0))
        _ = m.handle(.contact(open: true), at: at(1))
        #expect(m.nextDeadline == at(21))
        #expect(events(m.handle(.tick, at: at(21))) == [.heldOpenPrealarm])
        #expect(m.nextDeadline == at(31))
        #expect(events(m.handle(.tick, at: at(31))) == [.heldOpen] && m.isAlarm)
        #expect(m.handle(.tick, at: at(40)).isEmpty)  // raised once
        #expect(events(m.handle(.contact(open: false), at: at(45))) == [.closed, .heldOpenCleared, .relocked])
        #expect(!m.isAlarm)
    }

    @Test func requestToExitReleasesOrExcusesQuietly() {
        var m = DoorStateMachine(behaviour: DoorBehaviour(strikeTime: 4))
        let rex = m.handle(.requestToExit, at: at(0))
        #expect(events(rex) == [.requestToExit, .released] && locks(rex) == [true])
        #expect(events(m.handle(.contact(open: true), at: at(1))) == [.opened])

        var q = DoorStateMachine(behaviour: DoorBehaviour(strikeTime: 4, exitMode: .quiet))
        let quiet = q.handle(.requestToExit, at: at(0))
        #expect(events(quiet) == [.requestToExit] && locks(quiet).isEmpty)
        #expect(events(q.handle(.contact(open: true), at: at(2))) == [.opened])  // excused, not forced
        _ = q.handle(.contact(open: false), at: at(3))
        _ = q.handle(.requestToExit, at: at(10))
        _ = q.handle(.tick, at: at(14))
        #expect(events(q.handle(.contact(open: true), at: at(15))) == [.forcedOpen])  // excuse expired
    }

    @Test func tamperRaisesAndClearsOnce() {
        var m = DoorStateMachine(behaviour: DoorBehaviour())
        #expect(events(m.handle(.tamper(active: true), at: at(0))) == [.tamper] && m.isAlarm)
        #expect(m.handle(.tamper(active: true), at: at(1)).isEmpty)
        #expect(events(m.handle(.tamper(active: false), at: at(2))) == [.tamperCleared] && !m.isAlarm)
    }

    @Test func freeAccessAndEmergencyHoldTheLockReleased() {
        var m = DoorStateMachine(behaviour: DoorBehaviour(heldOpenTime: 30))
        let u = m.handle(.mode(.unlocked), at: at(0))
        #expect(events(u) == [.modeChanged] && locks(u) == [true])
        #expect(events(m.handle(.contact(open: true), at: at(1))) == [.opened])
        #expect(m.nextDeadline == nil && m.handle(.tick, at: at(100)).isEmpty)  // no held-open in free access
        _ = m.handle(.contact(open: false), at: at(101))
        #expect(m.lockReleased)  // closing does not relock in free access
        let back = m.handle(.mode(.normal), at: at(102))
        #expect(locks(back) == [false] && events(back) == [.modeChanged, .relocked])

        let e = m.handle(.mode(.emergencyRelease), at: at(200))
        #expect(events(e) == [.emergencyRelease] && locks(e) == [true])
        #expect(m.handle(.grant(strikeTime: nil), at: at(201)).isEmpty)
    }

    @Test func lockdownIgnoresGrantsButNotExit() {
        var m = DoorStateMachine(behaviour: DoorBehaviour())
        _ = m.handle(.mode(.lockedDown), at: at(0))
        #expect(m.handle(.grant(strikeTime: nil), at: at(1)).isEmpty && !m.lockReleased)
        #expect(locks(m.handle(.requestToExit, at: at(2))) == [true])
    }

    @Test func modeChangeDuringAnAuthorisedOpeningWaitsForClose() {
        var m = DoorStateMachine(behaviour: DoorBehaviour())
        _ = m.handle(.mode(.unlocked), at: at(0))
        _ = m.handle(.contact(open: true), at: at(1))
        #expect(locks(m.handle(.mode(.normal), at: at(2))).isEmpty && m.lockReleased)
        #expect(locks(m.handle(.contact(open: false), at: at(3))) == [false])
    }

    @Test func theSafeStateIsAnInactiveRelayLineForBothFailModes() {
        #expect(DoorStateMachine.relayActive(released: false, failMode: .secure) == false)
        #expect(DoorStateMachine.relayActive(released: true, failMode: .secure) == true)
        #expect(DoorStateMachine.relayActive(released: true, failMode: .safe) == false)   // maglock unpowered
        #expect(DoorStateMachine.relayActive(released: false, failMode: .safe) == true)
        #expect(DoorStateMachine(behaviour: DoorBehaviour(failMode: .safe)).safeStateReleased)
        #expect(!DoorStateMachine(behaviour: DoorBehaviour(failMode: .secure)).safeStateReleased)
    }
}
