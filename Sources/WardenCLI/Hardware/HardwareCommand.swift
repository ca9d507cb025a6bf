import CommandSupport
import ArgumentParser
import DoorIO
import Foundation
import OSDP
import WardenCore

struct HardwareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hardware",
        abstract: "Check the GPIO wiring and the OSDP readers a pin map describes.",
        subcommands: [CheckHardware.self]
    )
}

struct CheckHardware: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Open every line of a pin map and report what is missing, busy or misconfigured.",
        discussion: """
        Each line is looked up (chip and offset, or name), checked for another holder, then \
        requested in its direction and released again. Relay lines are requested at their \
        inactive (safe) level, so nothing moves. --pulse DOOR then releases that door's lock \
        for --seconds and returns it to the safe state. Each OSDP reader is brought up under \
        Secure Channel with its installed key, and its ID report, capabilities and Secure \
        Channel state are shown (stop `warden run` first: it holds the serial ports).

        Exit status: 0 when every line is usable, 1 otherwise.

        Examples:
          warden hardware check --map hardware/pinmaps/raspberry-pi-relay-hat.yaml
          warden hardware check --map hardware/pinmaps/gpio-sim.yaml --pulse lobby --seconds 2
        """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Pin map file.") var map: String
    @Option(help: "Release this door's lock briefly to test the relay and strike.") var pulse: String?
    @Option(help: "How long --pulse releases the lock.") var seconds: Double = 1

    struct LineStatus: Codable { let door: String; let role: String; let line: String; let direction: String; let status: String; let detail: String? }
    struct ReaderCheck: Codable { let door: String; let port: String; let address: Int; let status: String; let detail: String?; let reader: OSDPReaderStatus? }
    struct Report: Codable { let board: String; let ok: Bool; let lines: [LineStatus]; let readers: [ReaderCheck]; let pulsed: String? }

    func run() throws {
        let pinMap: PinMap
        do { pinMap = try PinMap.load(path: map) } catch { throw CLIError("\(error)") }
        if let pulse, pinMap.doors[pulse] == nil { throw CLIError(NotFound.message("door", pulse, "is not in \(map)", known: pinMap.doors.keys)) }
        let backend = LibgpiodGPIO()
        var lines: [LineStatus] = []
        for l in pinMap.allLines {
            let dir = l.output ? "output" : "input"
            func status(_ s: String, _ d: String? = nil) { lines.append(LineStatus(door: l.door, role: l.role, line: l.spec.description, direction: dir, status: s, detail: d)) }
            do {
                if let holder = try backend.holder(of: l.spec) { status("busy", "held by '\(holder)'"); continue }
                if l.output {
                    let o = try backend.output(l.spec, consumer: "warden-check", initiallyActive: false)
                    o.release()
                } else {
                    let i = try backend.input(l.spec, consumer: "warden-check")
                    let level = try i.readActive()
                    i.release()
                    status("ok", "reads \(level ? "active" : "inactive")")
                    continue
                }
                status("ok")
            } catch {
                switch error {
                case .chipNotFound, .lineNotFound: status("missing", error.description)
                case .lineBusy: status("busy", error.description)
                case .io: status("error", error.description)
                }
            }
        }
        let readers = checkReaders(pinMap)
        let ok = lines.allSatisfy { $0.status == "ok" } && readers.allSatisfy { $0.status == "ok" }
        var pulsed: String? = nil
        if let pulse, ok, let pins = pinMap.doors[pulse] {
            guard let line = pins.relay else { throw CLIError("door \(pulse)'s strike is driven by its OSDP reader, not a relay line: pulse it with a grant under `warden run`") }
            do {
                let relay = try backend.output(line, consumer: "warden-check:pulse", initiallyActive: false)
                defer { try? relay.setActive(false); relay.release() }
                try relay.setActive(DoorStateMachine.relayActive(released: true, failMode: pins.failMode))
                Thread.sleep(forTimeInterval: seconds)
                try relay.setActive(DoorStateMachine.relayActive(released: false, failMode: pins.failMode))
            } catch { throw CLIError("pulse failed: \(error.description)") }
            pulsed = "\(pulse): released \(seconds)s, then locked"
        }
        let report = Report(board: pinMap.board, ok: ok, lines: lines, readers: readers, pulsed: pulsed)
        if global.json { try Output.json(report) } else {
            print("\(pinMap.board): \(lines.filter { $0.status == "ok" }.count) of \(lines.count) lines usable")
            for l in lines {
                print("  \(l.status == "ok" ? "ok  " : "FAIL") \(pad(l.door, 12)) \(pad(l.role, 11)) \(pad(l.direction, 7)) \(pad(l.line, 28)) \(l.status == "ok" ? (l.detail ?? "") : "\(l.status): \(l.detail ?? "")")")
            }
            for r in readers {
                print("  \(r.status == "ok" ? "ok  " : "FAIL") \(pad(r.door, 12)) osdp        \(pad("address \(r.address)", 7)) \(pad(r.port, 28)) "
                      + (r.reader.map(ReaderStatusLine.describe) ?? "\(r.status): \(r.detail ?? "")"))
            }
            if let pulsed { print("pulse: \(pulsed)") } else if pulse != nil { print("pulse skipped: fix the lines above first") }
        }
        if !ok { throw ExitCode(1) }
    }

    /// Each OSDP reader under its installed key, with Secure Channel enforced.
    func checkReaders(_ pinMap: PinMap) -> [ReaderCheck] {
        let wired = pinMap.doors.sorted { $0.key < $1.key }.compactMap { id, p in p.osdp.map { (id, $0) } }
        guard !wired.isEmpty else { return [] }
        let db = try? global.openDatabase(readOnly: true, ownHome: true)
        return wired.map { door, w in
            func check(_ status: String, _ detail: String?, _ reader: OSDPReaderStatus? = nil) -> ReaderCheck {
                ReaderCheck(door: door, port: w.port, address: w.address, status: status, detail: detail, reader: reader)
            }
            guard let bytes = try? db?.readerKeys.key(door: door), let key = OSDPKey(bytes: bytes) else {
                return check("not installed", "no key for this reader yet: `warden reader install \(door) --map \(map)`")
            }
            do { return check("ok", nil, try OSDPProvisioning.probe(port: w.port, baud: w.baud, address: w.address, key: key, seconds: 10)) } catch {
                return check("error", "\(error)")
            }
        }
    }
}

