import DoorIO
import Foundation

/// Setting a reader's Secure Channel key: at install (the reader's install mode lets it use
/// the published default key SCBK-D once) and at rotation (under the current key). Each
/// ends with a fresh session under the new key with Secure Channel enforced, so success
/// means the reader really holds it. Runs on the bus alone: `warden run` must not hold
/// the port (the port is opened exclusively).
public enum OSDPProvisioning {
    public enum Failure: Error, CustomStringConvertible, Sendable, Equatable {
        case noAnswer(String)
        case plainText
        case refused(String)
        case keysetRefused(String)
        case bus(OSDPError)

        public var description: String {
            switch self {
            case .noAnswer(let s): return "the reader did not answer: \(s) (check the port, the address, the baud rate and the RS-485 wiring: hardware/README.md)"
            case .plainText: return "the reader answered without Secure Channel: it is not in install mode (it holds a key of its own) or it cannot do Secure Channel; reset it to install mode (see its manual) and run this again"
            case .refused(let s): return "the reader refused Secure Channel: \(s)"
            case .keysetRefused(let s): return "the reader did not take the new key: \(s)"
            case .bus(let e): return e.description
            }
        }
    }

    /// A session under `key` with Secure Channel enforced: the reader's status when it
    /// comes up, `.refused` when the reader holds another key.
    public static func probe(port: String, baud: Int, address: Int, key: OSDPKey, seconds: Double = 20) throws(Failure) -> OSDPReaderStatus {
        let bus = try open(port, baud, address, .secure(key))
        defer { bus.stop() }
        let reader = bus.reader(address: address)!
        let seen = wait(reader, seconds) { $0.contains(.online(secure: true)) || $0.contains { if case .secureChannelRefused = $0 { true } else { false } } }
        if let refusal = seen.compactMap({ if case .secureChannelRefused(let r) = $0 { r } else { nil } }).first { throw .refused(refusal) }
        guard seen.contains(.online(secure: true)), let status = bus.readerStatuses.first else {
            throw .noAnswer(bus.counters.lastError ?? "nothing in \(Int(seconds)) s")
        }
        return status
    }

    /// Install: SCBK-D once, then KEYSET `newKey` (libosdp does both when the session under
    /// `newKey` fails and the default key works), then a verifying session under `newKey`.
    public static func install(port: String, baud: Int, address: Int, newKey: OSDPKey, seconds: Double = 30) throws(Failure) -> OSDPReaderStatus {
        do {
            let bus = try open(port, baud, address, .install(newKey: newKey))
            defer { bus.stop() }
            let reader = bus.reader(address: address)!
            let seen = wait(reader, seconds) { $0.contains { if case .online = $0 { true } else { false } } }
            if seen.contains(.online(secure: false)) { throw Failure.plainText }
            guard seen.contains(.online(secure: true)) else { throw Failure.noAnswer(bus.counters.lastError ?? "nothing in \(Int(seconds)) s") }
        }
        return try probe(port: port, baud: baud, address: address, key: newKey, seconds: seconds)
    }

    /// Rotation: a session under `current`, KEYSET `new` in it, then a verifying session
    /// under `new`.
    public static func rotate(port: String, baud: Int, address: Int, current: OSDPKey, new: OSDPKey, seconds: Double = 30) throws(Failure) -> OSDPReaderStatus {
        do {
            let bus = try open(port, baud, address, .secure(current))
            defer { bus.stop() }
            let reader = bus.reader(address: address)!
            var seen = wait(reader, seconds) { $0.contains(.online(secure: true)) || $0.contains { if case .secureChannelRefused = $0 { true } else { false } } }
            if let refusal = seen.compactMap({ if case .secureChannelRefused(let r) = $0 { r } else { nil } }).first { throw Failure.refused(refusal) }
            guard seen.contains(.online(secure: true)) else { throw Failure.noAnswer(bus.counters.lastError ?? "nothing in \(Int(seconds)) s") }
            reader.setKey(new)
            seen = wait(reader, seconds) { $0.contains { if case .keyChanged = $0 { true } else { false } } }
            if seen.contains(where: { if case .keyChanged(false, _) = $0 { true } else { false } }) { throw Failure.keysetRefused("KEYSET was refused") }
            guard seen.contains(where: { if case .keyChanged(true, _) = $0 { true } else { false } }) else { throw Failure.keysetRefused("no answer to KEYSET in \(Int(seconds)) s") }
        }
        return try probe(port: port, baud: baud, address: address, key: new, seconds: seconds)
    }

    private static func open(_ port: String, _ baud: Int, _ address: Int, _ security: OSDPReaderSetup.Security) throws(Failure) -> OSDPBus {
        do {
            let bus = try OSDPBus(port: port, baud: baud, readers: [OSDPReaderSetup(address: address, security: security, formats: [])])
            bus.start()
            return bus
        } catch { throw .bus(error) }
    }

    /// The reader's inputs until `done` holds of them, or `seconds` pass.
    private static func wait(_ reader: OSDPReader, _ seconds: Double, until done: ([ReaderInput]) -> Bool) -> [ReaderInput] {
        var seen: [ReaderInput] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            seen += reader.takeInputs()
            if done(seen) { break }
            usleep(20_000)
        }
        return seen
    }
}
