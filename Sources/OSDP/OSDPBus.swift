import CLibOSDP
import DoorIO
import Foundation
import WardenCore

/// A reader's Secure Channel base key (SCBK): 16 bytes, never logged.
public struct OSDPKey: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// A fresh key from OpenSSL's CSPRNG.
    public static func random() throws(OSDPError) -> OSDPKey {
        var b = [UInt8](repeating: 0, count: 16)
        guard wosdp_random(&b, 16) == 0 else { throw .crypto("no random bytes for a reader key (OpenSSL RAND_bytes failed)") }
        return OSDPKey(bytes: b)!
    }

    /// The published default key, SCBK-D, that readers accept only in install mode.
    public static let installDefault = OSDPKey(bytes: Array(0x30...0x3F))!

    /// Never the key itself, in any log or message (the audit log names a key's generation).
    public var description: String { "OSDPKey(16 bytes)" }
}

public enum OSDPError: Error, CustomStringConvertible, Sendable, Equatable {
    case open(String)
    case crypto(String)

    public var description: String {
        switch self {
        case .open(let s): return "OSDP: \(s)"
        case .crypto(let s): return "OSDP: \(s)"
        }
    }
}

/// How a reader is set up on its bus.
public struct OSDPReaderSetup: Sendable {
    public enum Security: Sendable, Equatable {
        /// Production: Secure Channel under this key, enforced (libosdp's ENFORCE_SECURE).
        case secure(OSDPKey)
        /// `warden reader install`: the reader may use SCBK-D once; the bus then sets this
        /// key on it and verifies a session under it.
        case install(newKey: OSDPKey)
    }
    public var address: Int
    public var security: Security
    public var formats: [WiegandFormat]
    public init(address: Int, security: Security, formats: [WiegandFormat]) {
        self.address = address; self.security = security; self.formats = formats
    }
}

/// What `warden hardware check` shows of a reader.
public struct OSDPReaderStatus: Sendable, Equatable, Codable {
    public var address: Int
    public var online: Bool
    public var secure: Bool
    public var vendorCode: UInt32?
    public var model: Int?
    public var serialNumber: UInt32?
    public var firmware: String?
    /// OSDP function codes the reader reported (name: "compliance/items").
    public var capabilities: [String: String]
}

/// Counters of one bus, for status and checks.
public struct OSDPCounters: Sendable, Equatable, Codable {
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    /// Replies rejected by framing, CRC, address or MAC checks (noise, garbage, attacks).
    public var framesRejected: UInt64
    /// Bytes on the line that were part of no frame.
    public var bytesSkipped: UInt64
    /// Secure Channel set-ups that failed (wrong key, a reader without SC).
    public var secureChannelFailures: UInt64
    public var lastError: String?
}

/// One OSDP bus (a serial port, RS-485 through an adapter) driven as control panel, with
/// its readers. A thread of its own turns libosdp every 5 ms (libosdp polls each reader
/// every 50 ms and waits 200 ms for a reply; 8 s of silence is offline). A reader that
/// went offline is tried again after 2 s (CLibOSDP is built so: libosdp's own wait is 300 s,
/// far longer than a reader's reboot); a bus whose adapter disappears is reopened.
public final class OSDPBus: @unchecked Sendable {  // state behind `lock`, libosdp on `thread` only
    public let port: String
    public let baud: Int
    public let setups: [OSDPReaderSetup]
    private let readers: [OSDPReader]
    private let lock = NSLock()
    private var handle: OpaquePointer?
    private var commands: [(index: Int, run: (OpaquePointer, Int32) -> Int32, what: String)] = []
    private var thread: Thread?
    private var stopping = false
    private var lastCounters = OSDPCounters(bytesIn: 0, bytesOut: 0, framesRejected: 0, bytesSkipped: 0, secureChannelFailures: 0, lastError: nil)
    private var statuses: [OSDPReaderStatus]
    private var reopenAt: Date?

    /// Opens the port. Throws when it cannot be opened or libosdp refuses the set-up; with
    /// `waitForPort` a port that cannot be opened yet (an adapter not plugged in) is tried
    /// again every second instead, and `openProblem` says why it is not open.
    public init(port: String, baud: Int, readers: [OSDPReaderSetup], waitForPort: Bool = false) throws(OSDPError) {
        self.port = port
        self.baud = baud
        self.setups = readers
        self.readers = readers.map { OSDPReader(port: port, address: $0.address, formats: $0.formats) }
        self.statuses = readers.map { OSDPReaderStatus(address: $0.address, online: false, secure: false, capabilities: [:]) }
        do { handle = try Self.open(port: port, baud: baud, readers: readers) } catch {
            guard waitForPort, case .open = error else { throw error }
            openProblem = error.description
            reopenAt = Date().addingTimeInterval(1)
        }
        for r in self.readers { r.bus = self }
    }

    /// Why the port is not open at start (with `waitForPort`).
    public private(set) var openProblem: String?

    static func open(port: String, baud: Int, readers: [OSDPReaderSetup]) throws(OSDPError) -> OpaquePointer {
        var configs = readers.map { r -> wosdp_reader in
            var c = wosdp_reader()
            c.address = Int32(r.address)
            let key: OSDPKey
            switch r.security {
            case .secure(let k): c.mode = Int32(WOSDP_SECURE.rawValue); key = k
            case .install(let k): c.mode = Int32(WOSDP_INSTALL.rawValue); key = k
            }
            withUnsafeMutableBytes(of: &c.scbk) { $0.copyBytes(from: key.bytes) }
            return c
        }
        var error = [CChar](repeating: 0, count: 256)
        guard let h = wosdp_open(port, Int32(baud), Int32(configs.count), &configs, &error, Int32(error.count)) else {
            throw .open(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return h
    }

    /// The reader at an address, as its door's port.
    public func reader(address: Int) -> OSDPReader? { readers.first { $0.address == address } }

    public func start() {
        lock.lock(); defer { lock.unlock() }
        guard thread == nil else { return }
        let t = Thread { [weak self] in self?.loop() }
        t.name = "osdp \(port)"
        thread = t
        t.start()
    }

    /// Sends what is queued (up to half a second), stops the thread and closes the port.
    public func stop() {
        lock.lock(); stopping = true; let t = thread; lock.unlock()
        while let t, !t.isFinished { usleep(2_000) }
        lock.lock(); defer { lock.unlock() }
        if let h = handle { wosdp_close(h); handle = nil }
    }

    deinit { if let h = handle { wosdp_close(h) } }

    public var counters: OSDPCounters { lock.lock(); defer { lock.unlock() }; return lastCounters }
    public var readerStatuses: [OSDPReaderStatus] { lock.lock(); defer { lock.unlock() }; return statuses }

    /// Queues a command for the bus thread (libosdp is single-threaded).
    func submit(address: Int, what: String, _ run: @escaping (OpaquePointer, Int32) -> Int32) {
        guard let i = setups.firstIndex(where: { $0.address == address }) else { return }
        lock.lock(); commands.append((i, run, what)); lock.unlock()
    }

    // MARK: The bus thread

    private var statusAt = Date.distantPast

    private func loop() {
        var stopDeadline: Date?
        while true {
            lock.lock()
            // On stop, what the doors last told their readers (a denial's red) still goes
            // out, for up to half a second.
            if stopping {
                let now = Date()
                if stopDeadline == nil { stopDeadline = now.addingTimeInterval(0.5) }
                if commands.isEmpty && (handle.map { wosdp_pending_commands($0) == 0 } ?? true) || now >= stopDeadline! { lock.unlock(); return }
            }
            let h = handle
            let queued = commands
            commands = []
            lock.unlock()

            guard let h else { reopenIfDue(); usleep(50_000); continue }
            for c in queued where c.run(h, Int32(c.index)) != 0 {
                readers[c.index].deliver(.fault("the reader did not take a command (\(c.what)): its queue is full or it is offline"))
            }
            let rc = wosdp_refresh(h)
            var ev = wosdp_event()
            var changed = false
            // The status (states, ID reports, capabilities) is for people and checks: read
            // again before the events that change it are handed on, else a few times a second.
            while wosdp_next_event(h, &ev) == 1 {
                if !changed { refreshStatus(h); statusAt = Date(); changed = true }
                translate(ev, handle: h)
            }
            if !changed, Date().timeIntervalSince(statusAt) >= 0.2 { refreshStatus(h); statusAt = Date() }
            if rc < 0 {
                let crypto = wosdp_crypto_failures() > 0
                let why = crypto ? "the crypto backend failed (OpenSSL): nothing on this bus can be trusted until Warden restarts"
                                 : "the serial port \(port) has gone (adapter unplugged?); reopening it every second"
                lock.lock(); wosdp_close(h); handle = nil; reopenAt = crypto ? .distantFuture : Date().addingTimeInterval(1); lock.unlock()
                for r in readers { r.deliver(.fault(why)); r.deliver(.offline(reason: why)) }
                continue
            }
            usleep(5_000)
        }
    }

    private func reopenIfDue() {
        lock.lock(); let due = reopenAt.map { Date() >= $0 } ?? false; lock.unlock()
        guard due else { return }
        do {
            let h = try Self.open(port: port, baud: baud, readers: setups)
            lock.lock(); handle = h; reopenAt = nil; lock.unlock()
        } catch {
            lock.lock(); reopenAt = Date().addingTimeInterval(1); lock.unlock()
        }
    }

    private func translate(_ ev: wosdp_event, handle h: OpaquePointer) {
        guard ev.reader >= 0, Int(ev.reader) < readers.count else { return }
        let reader = readers[Int(ev.reader)]
        let data = withUnsafeBytes(of: ev.data) { Array($0.prefix(Int(max(0, min(64, ev.length))))) }
        switch Int(ev.kind) {
        case Int(WOSDP_EVENT_CARD.rawValue):
            if ev.format == 2 {  // ASCII: no card format applies
                reader.deliver(.card(.rejected(reason: "the reader sent an ASCII card number, not Wiegand bits: set it to raw Wiegand output", bits: 0)))
            } else {
                let n = Int(ev.bits)
                guard n > 0, n <= data.count * 8 else { reader.deliver(.card(.rejected(reason: "a card read with \(n) bits", bits: max(0, n)))); return }
                var bits = (0..<n).map { (data[$0 / 8] >> (7 - UInt8($0 % 8))) & 1 == 1 }
                if ev.arg == 1 { bits.reverse() }  // read backwards (the reader says so)
                reader.deliver(.card(WiegandRead(bits: bits, formats: reader.formats)))
            }
        case Int(WOSDP_EVENT_KEYPAD.rawValue):
            // OSDP keypad data: ASCII digits, 0x7F for '*' and 0x0D for '#'.
            let keys = String(data.map { b -> Character in b == 0x7F ? "*" : b == 0x0D ? "#" : (0x20..<0x7F).contains(b) ? Character(UnicodeScalar(b)) : "?" })
            reader.deliver(.keypad(keys))
        case Int(WOSDP_EVENT_STATUS.rawValue):
            // Local or remote status: bit 0 tamper, bit 1 power failure (libosdp's report
            // carries one entry per bit).
            if ev.arg == 2 || ev.arg == 3 {
                if data.count > 0 { reader.deliver(.tamper(data[0] != 0)) }
                if data.count > 1 { reader.deliver(.power(ok: data[1] == 0)) }
            }
        case Int(WOSDP_EVENT_ONLINE.rawValue):
            if ev.secure == 0 {
                // Online in plain text: libosdp allows it in install mode (the reader holds
                // another key, or has no Secure Channel). Warden never uses such a reader:
                // it is taken off the bus before any command reaches it.
                _ = wosdp_disable(h, ev.reader)
            }
            reader.wentOnline(secure: ev.secure != 0)
        case Int(WOSDP_EVENT_OFFLINE.rawValue):
            var c = wosdp_counters()
            wosdp_get_counters(h, &c)
            reader.wentOffline(secureChannelFailures: c.sc_failures, reason: Self.text(c.sc_reason), lastError: Self.text(c.last_error))
        case Int(WOSDP_EVENT_SECURE.rawValue):
            reader.secureChannel(active: ev.arg != 0, defaultKey: ev.secure != 0)
        case Int(WOSDP_EVENT_COMMAND_DONE.rawValue):
            if ev.arg == 5 {  // OSDP_CMD_KEYSET
                reader.deliver(.keyChanged(ok: ev.ok != 0, detail: ev.ok != 0 ? "KEYSET acknowledged" : "the reader refused KEYSET"))
            }
        default: break
        }
    }

    private func refreshStatus(_ h: OpaquePointer) {
        var c = wosdp_counters()
        wosdp_get_counters(h, &c)
        let lastError = Self.text(c.last_error)
        var out: [OSDPReaderStatus] = []
        for (i, s) in setups.enumerated() {
            var online: Int32 = 0, secure: Int32 = 0
            wosdp_state(h, Int32(i), &online, &secure)
            var st = OSDPReaderStatus(address: s.address, online: online != 0, secure: secure != 0, capabilities: [:])
            var id = wosdp_identity()
            if online != 0, wosdp_identity_of(h, Int32(i), &id) == 0, id.vendor_code != 0 || id.serial_number != 0 {
                st.vendorCode = id.vendor_code; st.model = Int(id.model); st.serialNumber = id.serial_number
                st.firmware = "\((id.firmware_version >> 16) & 0xFF).\((id.firmware_version >> 8) & 0xFF).\(id.firmware_version & 0xFF)"
                for (code, name) in Self.capabilityNames {
                    var compliance: Int32 = 0, items: Int32 = 0
                    if wosdp_capability(h, Int32(i), Int32(code), &compliance, &items) == 0, compliance != 0 || items != 0 { st.capabilities[name] = "\(compliance)/\(items)" }
                }
            }
            out.append(st)
        }
        lock.lock()
        statuses = out
        lastCounters = OSDPCounters(bytesIn: c.bytes_in, bytesOut: c.bytes_out, framesRejected: c.frames_rejected, bytesSkipped: c.bytes_skipped,
                                    secureChannelFailures: c.sc_failures, lastError: lastError.isEmpty ? nil : lastError)
        lock.unlock()
    }

    /// A C string held in a fixed array of the shim's structs.
    static func text<Chars>(_ chars: Chars) -> String {
        withUnsafeBytes(of: chars) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// OSDP function codes (Table 5 of the standard) as `warden hardware check` names them.
    static let capabilityNames: [(Int, String)] = [
        (1, "contact_status"), (2, "output_control"), (3, "card_format"), (4, "led_control"), (5, "audible_output"),
        (6, "text_output"), (7, "time_keeping"), (8, "check_character"), (9, "communication_security"),
        (10, "receive_buffer"), (11, "largest_message"), (12, "smart_card"), (13, "readers"), (14, "biometrics"),
    ]
}
