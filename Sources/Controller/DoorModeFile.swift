import Audit
import Foundation
import Policy
import WardenCore

/// The operators' door modes (a remote lockdown), kept in the data directory so that a
/// restart, a crash or a power cut never lifts a lockdown: `<home>/door-modes.json`,
/// replaced whole on every change.
public struct DoorModeFile: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    struct Stored: Codable { var version: Int; var modes: [String: String] }

    public struct Unreadable: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The stored modes; none when the file does not exist.
    public func read() throws(Unreadable) -> [String: DoorMode] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let data: Data
        do { data = Data(try BoundedFile.readText(path, limit: 1 << 20).utf8) } catch { throw Unreadable(description: "\(path): \(error)") }
        guard let stored = try? JSONDecoder().decode(Stored.self, from: data), stored.version == 1 else {
            throw Unreadable(description: "\(path) is not a door-mode file Warden wrote (version 1 JSON)")
        }
        var out: [String: DoorMode] = [:]
        for (door, raw) in stored.modes {
            guard let m = DoorMode(rawValue: raw), m == .locked else { throw Unreadable(description: "\(path): door \(door) has mode '\(raw)'; only locked is kept") }
            out[door] = m
        }
        return out
    }

    /// Only lockdowns are kept: free access is never restored by a restart.
    public func write(_ modes: [String: DoorMode]) throws {
        let kept = modes.filter { $0.value == .locked }.mapValues(\.rawValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(Stored(version: 1, modes: kept)), as: UTF8.self) + "\n"
        let file = try AtomicFile(path: path, replace: true)
        try file.write(text)
        try file.commit()
    }
}
