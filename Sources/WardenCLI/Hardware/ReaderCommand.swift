import CommandSupport
import ArgumentParser
import DoorIO
import Foundation
import OSDP
import Storage
import WardenCore

struct ReaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader",
        abstract: "Install OSDP readers and manage their Secure Channel keys.",
        discussion: """
        An OSDP reader (a door with `osdp: {port, address, baud}` in its pin map) talks to \
        Warden under Secure Channel with a key of its own. `install` gives a new reader its \
        key: the reader must be in install mode (its manual says how), where it accepts the \
        published default key SCBK-D once; Warden sets a random key, checks a session under \
        it, and stores it encrypted under the template key. `rotate-key` replaces the key \
        under the current one. Stop `warden run` first: it holds the serial port.

        Examples:
          warden reader list --map hardware/pinmaps/osdp-rs485.yaml
          warden reader install lobby --map hardware/pinmaps/osdp-rs485.yaml
          warden reader rotate-key lobby --map hardware/pinmaps/osdp-rs485.yaml
        """,
        subcommands: [ReaderList.self, ReaderInstall.self, ReaderRotateKey.self]
    )
}

/// What the reader commands share: the door's wiring from the pin map, and the key store.
struct ReaderSelection: ParsableArguments {
    @Option(help: "Pin map file naming the door's OSDP reader.") var map: String

    func pinMap() throws -> PinMap {
        do { return try PinMap.load(path: map) } catch { throw CLIError("\(error)") }
    }

    func wiring(_ door: String) throws -> PinMap.OSDPWiring {
        let pinMap = try pinMap()
        guard let pins = pinMap.doors[door] else { throw CLIError(NotFound.message("door", door, "is not in \(map)", known: pinMap.doors.keys)) }
        guard let o = pins.osdp else { throw CLIError("door \(door) has no OSDP reader in \(map) (its reader is wired as Wiegand, or not at all)") }
        return o
    }
}

extension CommandOptions {
    /// Reader keys belong to this board's hardware, fleet member or not: they are not part
    /// of the replica and never leave the board.
    func openReaderKeys() throws -> ReaderKeyRepository { try openDatabase(forReplica: true, ownHome: true).readerKeys }
}

struct ReaderList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Each OSDP reader of a pin map and its key's state (never the key).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: ReaderSelection

    struct Row: Codable { let door: String; let port: String; let address: Int; let baud: Int; let key: String; let generation: Int; let setAt: Date? }

    func run() throws {
        let pinMap = try selection.pinMap()
        let db = try global.openDatabase(readOnly: true, ownHome: true)
        let infos = Dictionary(uniqueKeysWithValues: try storage { try db.readerKeys.list() }.map { ($0.door, $0) })
        let rows = pinMap.doors.sorted { $0.key < $1.key }.compactMap { id, pins -> Row? in
            guard let o = pins.osdp else { return nil }
            let info = infos[id]
            let state = info?.installed == true ? (info?.pending == true ? "installed, change interrupted" : "installed") : info?.pending == true ? "install interrupted" : "not installed"
            return Row(door: id, port: o.port, address: o.address, baud: o.baud, key: state, generation: info?.generation ?? 0, setAt: info?.setAt)
        }
        if global.json { try Output.json(rows); return }
        if rows.isEmpty { print("\(selection.map) names no OSDP reader"); return }
        for r in rows {
            print("\(pad(r.door, 14)) \(pad(r.port, 24)) address \(pad(String(r.address), 3)) \(r.baud) baud  key: \(r.key)" + (r.generation > 0 ? " (generation \(r.generation))" : ""))
        }
    }
}

struct ReaderInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Give a reader in install mode its own random Secure Channel key.",
        discussion: """
        The reader must be in install mode, accepting the default key SCBK-D once. The new \
        key is stored (pending) before the reader is given it, and becomes the door's key \
        once a session under it, with Secure Channel enforced, has succeeded: an interrupted \
        install never leaves a reader under a key Warden does not hold. Run it again after an \
        interruption: a reader that already took the pending key is recognised. A door whose \
        reader is installed already needs --replace (a new or factory-reset reader).
        """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption
    @OptionGroup var selection: ReaderSelection
    @Argument(help: "The door whose reader to install.") var door: String
    @Flag(help: "Install a new reader at a door that has one installed already.") var replace = false
    @Option(help: "How long to wait for the reader at each step.") var seconds: Double = 30

    func run() throws {
        let wiring = try selection.wiring(door)
        let keys = try global.openReaderKeys()
        let label = "osdp \(wiring.port) address \(wiring.address)"
        if try storage({ try keys.key(door: door) }) != nil, !replace {
            throw CLIError("door \(door)'s reader is installed already; to install a new or reset reader there, add --replace")
        }
        // A pending key from an interrupted install may be on the reader already.
        if let pending = try storage({ try keys.pendingKey(door: door) }).flatMap(OSDPKey.init(bytes:)),
           let status = try? OSDPProvisioning.probe(port: wiring.port, baud: wiring.baud, address: wiring.address, key: pending, seconds: min(seconds, 10)) {
            let generation = try storage { try keys.commitPending(door: door, how: "install", reader: label, by: op.resolved) }
            return try report(status, generation: generation, resumed: true)
        }
        let key: OSDPKey
        do { key = try OSDPKey.random() } catch { throw CLIError(error.description) }
        try storage { try keys.stagePending(door: door, key: key.bytes, how: "install", reader: label, by: op.resolved) }
        let status: OSDPReaderStatus
        do { status = try OSDPProvisioning.install(port: wiring.port, baud: wiring.baud, address: wiring.address, newKey: key, seconds: seconds) } catch {
            throw CLIError("door \(door): install failed, the door's key is unchanged: \(error)")
        }
        let generation = try storage { try keys.commitPending(door: door, how: "install", reader: label, by: op.resolved) }
        try report(status, generation: generation, resumed: false)
    }

    func report(_ s: OSDPReaderStatus, generation: Int, resumed: Bool) throws {
        if global.json { try Output.json(InstallReport(door: door, generation: generation, resumed: resumed, reader: s)); return }
        print("door \(door): reader installed under its own key (generation \(generation))\(resumed ? ", finishing an interrupted install" : ""); Secure Channel verified")
        print("  " + ReaderStatusLine.describe(s))
    }
}

struct InstallReport: Codable { let door: String; let generation: Int; let resumed: Bool; let reader: OSDPReaderStatus }

struct ReaderRotateKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key",
        abstract: "Replace a reader's Secure Channel key under its current one.",
        discussion: "The new key is stored (pending) first and becomes the door's key once a session under it has succeeded; an interrupted rotation is finished by running this again."
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var op: OperatorOption
    @OptionGroup var selection: ReaderSelection
    @Argument(help: "The door whose reader key to rotate.") var door: String
    @Option(help: "How long to wait for the reader at each step.") var seconds: Double = 30

    func run() throws {
        let wiring = try selection.wiring(door)
        let keys = try global.openReaderKeys()
        let label = "osdp \(wiring.port) address \(wiring.address)"
        guard let current = try storage({ try keys.key(door: door) }).flatMap(OSDPKey.init(bytes:)) else {
            throw CLIError("door \(door)'s reader is not installed: run `warden reader install \(door) --map \(selection.map)` first")
        }
        if let pending = try storage({ try keys.pendingKey(door: door) }).flatMap(OSDPKey.init(bytes:)),
           let status = try? OSDPProvisioning.probe(port: wiring.port, baud: wiring.baud, address: wiring.address, key: pending, seconds: min(seconds, 10)) {
            let generation = try storage { try keys.commitPending(door: door, how: "rotate", reader: label, by: op.resolved) }
            return try report(status, generation: generation)
        }
        let new: OSDPKey
        do { new = try OSDPKey.random() } catch { throw CLIError(error.description) }
        try storage { try keys.stagePending(door: door, key: new.bytes, how: "rotate", reader: label, by: op.resolved) }
        let status: OSDPReaderStatus
        do { status = try OSDPProvisioning.rotate(port: wiring.port, baud: wiring.baud, address: wiring.address, current: current, new: new, seconds: seconds) } catch {
            throw CLIError("door \(door): key rotation failed; the reader keeps the key it had (run this again to finish if it took the new one): \(error)")
        }
        let generation = try storage { try keys.commitPending(door: door, how: "rotate", reader: label, by: op.resolved) }
        try report(status, generation: generation)
    }

    func report(_ s: OSDPReaderStatus, generation: Int) throws {
        if global.json { try Output.json(InstallReport(door: door, generation: generation, resumed: false, reader: s)); return }
        print("door \(door): reader key rotated (generation \(generation)); Secure Channel verified under the new key")
        print("  " + ReaderStatusLine.describe(s))
    }
}

enum ReaderStatusLine {
    static func describe(_ s: OSDPReaderStatus) -> String {
        var parts = ["address \(s.address)", s.online ? "online" : "OFFLINE", s.secure ? "Secure Channel active" : "no Secure Channel"]
        if let v = s.vendorCode { parts.append(String(format: "vendor %06X", v)) }
        if let m = s.model { parts.append("model \(m)") }
        if let n = s.serialNumber { parts.append(String(format: "serial %08X", n)) }
        if let f = s.firmware { parts.append("firmware \(f)") }
        if !s.capabilities.isEmpty { parts.append("capabilities " + s.capabilities.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}
