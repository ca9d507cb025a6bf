import Foundation
import WardenTestSupport
import WardenCore

/// libosdp's Python PD (hardware/osdp/reader_peer.py) as a bus of readers behind a pty:
/// the real peer of every OSDP test. Steered through a FIFO; its events are JSON lines.
/// (A library of the tests', not of the product: see Package.swift.)
public final class ReaderPeer {
    static let root = TestCheckout.root
    static let python = root.appendingPathComponent(".cache/osdp-peer/bin/python").path
    static let script = root.appendingPathComponent("hardware/osdp/reader_peer.py").path
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: python) }

    public let process: ChildProcess.Running
    let control: FileHandle
    let fifo: String
    public let pty: String

    /// `readers`: "ADDRESS:KEYHEX[:install|:nosc]" each.
    public init(readers: [String]) throws {
        fifo = FileManager.default.temporaryDirectory.appendingPathComponent("warden-osdp-\(UUID().uuidString.prefix(8))").path
        guard mkfifo(fifo, 0o600) == 0 else { throw ChildProcessError("mkfifo \(fifo) failed") }
        process = try ChildProcess.start([Self.python, Self.script, "--control", fifo] + readers.flatMap { ["--reader", $0] })
        // Opening the FIFO waits for the peer to open its end, which it does once its pty is up.
        guard let h = FileHandle(forWritingAtPath: fifo) else { throw ChildProcessError("cannot open \(fifo)") }
        control = h
        var path: String?
        for _ in 0..<500 where path == nil {
            path = Self.lines(process.outputSoFar()).compactMap { $0["pty"] as? String }.first
            if path == nil { usleep(20_000) }
        }
        guard let path else { throw ChildProcessError("the reader peer printed no pty: \(process.outputSoFar())") }
        pty = path
    }

    deinit { stop() }

    public func stop() {
        try? control.write(contentsOf: Data("{\"op\": \"quit\"}\n".utf8))
        try? control.close()
        process.kill(SIGTERM)
        _ = process.wait()
        unlink(fifo)
    }

    public func send(_ op: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: op)
        try control.write(contentsOf: data + Data("\n".utf8))
    }

    static func lines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    public var events: [[String: Any]] { Self.lines(process.outputSoFar()) }

    /// The commands a reader received, in order.
    public func commands(address: Int) -> [[String: Any]] {
        events.filter { $0["event"] as? String == "command" && $0["address"] as? Int == address }.compactMap { $0["command"] as? [String: Any] }
    }

    /// Waits (up to `seconds`, a bound for a broken run, not a timing assertion) until
    /// `condition` holds.
    @discardableResult
    public static func waitUntil(seconds: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// The bits of an H10301 (26-bit) card, as the reader peer takes them.
    public static func h10301(facility: Int, card: Int) -> String {
        var bits = [Int](repeating: 0, count: 26)
        for i in 0..<8 { bits[1 + i] = (facility >> (7 - i)) & 1 }
        for i in 0..<16 { bits[9 + i] = (card >> (15 - i)) & 1 }
        bits[0] = bits[1...12].reduce(0, +) % 2          // even parity over the first half
        bits[25] = 1 - bits[13...24].reduce(0, +) % 2    // odd parity over the second half
        return bits.map(String.init).joined()
    }
}
