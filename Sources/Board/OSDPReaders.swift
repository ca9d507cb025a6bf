import DoorIO
import Foundation
import OSDP
import Storage

/// `warden run`'s OSDP readers: one bus per serial port, carrying every door's reader on it
/// whose key is installed. A door whose reader cannot be used still comes up (its face
/// factor works; its badges cannot be read) and says why.
public struct OSDPReaders {
    public var buses: [OSDPBus] = []
    public var readers: [String: OSDPReader] = [:]
    /// Doors whose reader is offline from the start, and why.
    public var problems: [String: String] = [:]

    /// For `warden status`: per bus, the readers online under Secure Channel and the
    /// counters of what the line carried and what was rejected.
    public func statusFields() -> [[String: String]] {
        buses.map { bus in
            let c = bus.counters, readers = bus.readerStatuses
            var f = ["port": bus.port, "readers": String(readers.count), "online": String(readers.filter { $0.online && $0.secure }.count),
                     "bytes_in": String(c.bytesIn), "bytes_skipped": String(c.bytesSkipped), "frames_rejected": String(c.framesRejected),
                     "secure_channel_failures": String(c.secureChannelFailures)]
            if let e = c.lastError { f["last_error"] = e }
            if let p = bus.openProblem, readers.allSatisfy({ !$0.online }) { f["port_problem"] = p }
            return f
        }
    }

    public static func start(doors: [String], pinMap: PinMap, keys: ReaderKeyRepository, pinMapPath: String) -> OSDPReaders {
        var out = OSDPReaders()
        let wired = doors.sorted().compactMap { id in pinMap.doors[id]?.osdp.map { (door: id, wiring: $0) } }
        for (port, onPort) in Dictionary(grouping: wired, by: \.wiring.port).sorted(by: { $0.key < $1.key }) {
            var setups: [OSDPReaderSetup] = []
            var installed: [(door: String, wiring: PinMap.OSDPWiring)] = []
            for (door, w) in onPort {
                do {
                    guard let bytes = try keys.key(door: door), let key = OSDPKey(bytes: bytes) else {
                        out.problems[door] = "the reader has no key yet: run `warden reader install \(door) --map \(pinMapPath)` with the reader in install mode"
                        continue
                    }
                    setups.append(OSDPReaderSetup(address: w.address, security: .secure(key), formats: pinMap.formats(for: door)))
                    installed.append((door, w))
                } catch {
                    out.problems[door] = "its key cannot be read (\(error))"
                }
            }
            guard !setups.isEmpty else { continue }
            do {
                // A port missing at start (an adapter not plugged in yet) is tried every second.
                let bus = try OSDPBus(port: port, baud: onPort[0].wiring.baud, readers: setups, waitForPort: true)
                bus.start()
                out.buses.append(bus)
                for (door, w) in installed {
                    out.readers[door] = bus.reader(address: w.address)
                    if let why = bus.openProblem { out.problems[door] = "\(why); retrying every second" }
                }
            } catch {
                for (door, _) in installed { out.problems[door] = "\(error)" }
            }
        }
        return out
    }
}
