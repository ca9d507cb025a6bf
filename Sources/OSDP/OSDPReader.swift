import CLibOSDP
import DoorIO
import Foundation

/// One reader on an OSDP bus, as its door's `ReaderPort`: what it reported, and the LED,
/// buzzer and output commands the door sends it. The LED's resting state is re-sent
/// whenever the reader comes back online (a rebooted reader has forgotten it).
public final class OSDPReader: ReaderPort, @unchecked Sendable {  // state behind `lock`
    public let port: String
    public let address: Int
    let formats: [WiegandFormat]
    weak var bus: OSDPBus?
    private let lock = NSLock()
    private var inputs: [ReaderInput] = []
    private var online = false
    private var secure = false
    private var scFailuresSeen: UInt64 = 0
    private var refused = false

    init(port: String, address: Int, formats: [WiegandFormat]) {
        self.port = port; self.address = address; self.formats = formats
    }

    public var label: String { "osdp \(port) address \(address)" }

    public func takeInputs() -> [ReaderInput] {
        lock.lock(); defer { lock.unlock() }
        let out = inputs
        inputs = []
        return out
    }

    func deliver(_ input: ReaderInput) { lock.lock(); inputs.append(input); lock.unlock() }

    func wentOnline(secure: Bool) {
        lock.lock()
        online = true
        self.secure = secure
        refused = false
        inputs.append(.online(secure: secure))
        lock.unlock()
        if secure { restLED() }
    }

    /// Offline, and why: a Secure Channel set-up that failed since the last time is a
    /// refusal (wrong key, or a reader without SC), reported once until it comes back.
    /// (The bus's counters are per bus; on a bus of several readers a refusal is charged
    /// to the reader that went offline with it.)
    func wentOffline(secureChannelFailures: UInt64, reason: String, lastError: String) {
        lock.lock(); defer { lock.unlock() }
        let wasOnline = online
        online = false
        secure = false
        if secureChannelFailures > scFailuresSeen {
            scFailuresSeen = secureChannelFailures
            if !refused {
                refused = true
                inputs.append(.secureChannelRefused(reason: "the reader did not complete Secure Channel under its key (\(reason.trimmingCharacters(in: .whitespacesAndNewlines))): a wrong key, a reader without Secure Channel, or someone else on the line; it stays offline and is never used in plain text"))
            }
        } else if wasOnline {
            inputs.append(.offline(reason: "no valid reply for 8 s" + (lastError.isEmpty ? "" : " (last error: \(lastError))")))
        }
    }

    func secureChannel(active: Bool, defaultKey: Bool) {
        lock.lock(); secure = active && !defaultKey; lock.unlock()
    }

    // MARK: Feedback

    public func signal(_ signal: ReaderSignal) {
        switch signal {
        case .granted(let seconds):
            led(color: 2, on: 10, off: 0, tenths: max(1, Int(seconds * 10)))
        case .denied:
            led(color: 1, on: 2, off: 2, tenths: 20)
            beep(on: 2, off: 1, count: 2)
        case .lookAtCamera:
            led(color: 3, on: 5, off: 5, tenths: 100)
        }
    }

    /// The resting state: steady red (locked), what readers show between requests.
    func restLED() { led(color: 1, on: 10, off: 0, tenths: 0) }

    /// Commands go only to a reader online under Secure Channel; one offline gets its
    /// resting state again when it comes back.
    private var usable: Bool { lock.lock(); defer { lock.unlock() }; return online && secure }

    func led(color: Int, on: Int, off: Int, tenths: Int) {
        guard usable else { return }
        bus?.submit(address: address, what: "LED") { h, i in wosdp_led(h, i, Int32(color), Int32(on), Int32(off), Int32(tenths)) }
    }

    func beep(on: Int, off: Int, count: Int) {
        guard usable else { return }
        bus?.submit(address: address, what: "buzzer") { h, i in wosdp_buzzer(h, i, Int32(on), Int32(off), Int32(count)) }
    }

    /// An output of the reader (a strike wired to it): on for `seconds` (0: until off).
    public func output(_ number: Int, on: Bool, seconds: TimeInterval) {
        guard usable else { return }
        bus?.submit(address: address, what: "output \(number)") { h, i in wosdp_output(h, i, Int32(number), on ? 1 : 0, Int32(seconds * 10)) }
    }

    /// Sets a new Secure Channel key on the reader (only under Secure Channel). The outcome
    /// arrives as `.keyChanged`.
    public func setKey(_ key: OSDPKey) {
        bus?.submit(address: address, what: "KEYSET") { h, i in key.bytes.withUnsafeBufferPointer { wosdp_keyset(h, i, $0.baseAddress) } }
    }
}
