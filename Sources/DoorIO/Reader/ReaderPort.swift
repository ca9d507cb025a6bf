import Foundation

/// What a networked reader (OSDP) reports to its door. Wiegand readers have no such port:
/// their bits arrive on D0/D1 and their LED and buzzer are lines of the door's own.
public enum ReaderInput: Sendable, Equatable {
    /// A card, decoded with the door's card formats (raw Wiegand bits in OSDP).
    case card(WiegandRead)
    /// Keys pressed on the reader's keypad. Held for a PIN factor; never written to a log.
    case keypad(String)
    /// The reader's own tamper switch.
    case tamper(Bool)
    /// The reader's power: false when it reports a power failure.
    case power(ok: Bool)
    /// The reader answers, under Secure Channel or (only where so configured) in plain text.
    case online(secure: Bool)
    /// The reader stopped answering, or was taken off the bus; `reason` says which.
    case offline(reason: String)
    /// The reader refused Secure Channel, or answered under the wrong key: it is kept
    /// offline, never used in plain text.
    case secureChannelRefused(reason: String)
    /// A new Secure Channel key is set on the reader (install or rotation).
    case keyChanged(ok: Bool, detail: String)
    /// The bus itself failed (adapter unplugged, crypto failure).
    case fault(String)
}

/// Feedback a door gives its reader.
public enum ReaderSignal: Sendable, Equatable {
    /// Green for the strike time.
    case granted(seconds: TimeInterval)
    /// Red flashes and a beep.
    case denied
    /// A badge was read and its holder's face is wanted: amber, flashing.
    case lookAtCamera
}

/// A door's networked reader: inputs since the last call, and feedback to show.
public protocol ReaderPort: AnyObject, Sendable {
    /// "osdp /dev/ttyUSB0 address 1", for logs and checks.
    var label: String { get }
    func takeInputs() -> [ReaderInput]
    func signal(_ signal: ReaderSignal)
    /// Drives one of the reader's outputs (a strike wired to it): on for `seconds`, after
    /// which the reader turns it off by itself, or off now.
    func output(_ number: Int, on: Bool, seconds: TimeInterval)
}
