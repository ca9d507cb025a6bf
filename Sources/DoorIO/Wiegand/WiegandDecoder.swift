import Foundation
import WardenCore

/// One falling edge on a Wiegand data line: D0 low is a 0 bit, D1 low is a 1 bit.
public struct WiegandPulse: Sendable, Equatable {
    public enum Line: Sendable { case d0, d1 }
    public var line: Line
    public var at: Date
    public init(line: Line, at: Date) { self.line = line; self.at = at }
}

/// What a frame became.
public enum WiegandRead: Sendable, Equatable {
    case card(format: String, facility: Int, card: Int64)
    /// Never a card number: the frame was short, long, noisy or failed parity.
    case rejected(reason: String, bits: Int)
}

/// Assembles pulses into frames and frames into cards.
///
/// A frame ends when no pulse arrives for `frameGap` (readers send a bit every 1-2 ms;
/// 25 ms of silence ends a frame). Pulses closer than `minimumSpacing` are noise (a real
/// reader never sends them that fast), as is a frame longer than any known format; both
/// reject the whole frame rather than guess.
public struct WiegandDecoder: Sendable {
    public var formats: [WiegandFormat]
    public var frameGap: TimeInterval
    public var minimumSpacing: TimeInterval

    private var bits: [Bool] = []
    private var last: Date?
    private var noisy = false

    public init(formats: [WiegandFormat] = WiegandFormat.standard, frameGap: TimeInterval = 0.025, minimumSpacing: TimeInterval = 0.0002) {
        self.formats = formats; self.frameGap = frameGap; self.minimumSpacing = minimumSpacing
    }

    /// Feeds one pulse; returns the previous frame's result if this pulse started a new one.
    public mutating func feed(_ pulse: WiegandPulse) -> WiegandRead? {
        var finished: WiegandRead? = nil
        if let last, pulse.at.timeIntervalSince(last) >= frameGap { finished = endFrame() }
        if let last = self.last, !bits.isEmpty, pulse.at.timeIntervalSince(last) < minimumSpacing { noisy = true }
        bits.append(pulse.line == .d1)
        if bits.count > 64 { noisy = true; bits.removeFirst() }
        last = pulse.at
        return finished
    }

    /// Call when time passes without pulses: returns the frame if its gap has elapsed.
    public mutating func poll(now: Date) -> WiegandRead? {
        guard let last, !bits.isEmpty, now.timeIntervalSince(last) >= frameGap else { return nil }
        return endFrame()
    }

    /// When the pending frame will be complete, if one is being received.
    public var frameDeadline: Date? { bits.isEmpty ? nil : last?.addingTimeInterval(frameGap) }

    private mutating func endFrame() -> WiegandRead? {
        defer { bits = []; noisy = false }
        guard !bits.isEmpty else { return nil }
        if noisy { return .rejected(reason: "noise on the data lines (pulses too close together or frame too long)", bits: bits.count) }
        return WiegandRead(bits: bits, formats: formats)
    }
}

extension WiegandRead {
    /// A whole frame's bits decoded with the first of `formats` of its length whose parity
    /// holds: from D0/D1 pulses, or as an OSDP reader reports them (raw Wiegand).
    public init(bits: [Bool], formats: [WiegandFormat]) {
        self = Self.decode(bits, formats)
    }

    private static func decode(_ bits: [Bool], _ formats: [WiegandFormat]) -> WiegandRead {
        let candidates = formats.filter { $0.length == bits.count }
        guard !candidates.isEmpty else {
            return .rejected(reason: WiegandFormat.DecodeError.wrongLength(got: bits.count, expected: Set(formats.map(\.length)).sorted()).description, bits: bits.count)
        }
        var firstError: WiegandFormat.DecodeError? = nil
        for f in candidates {
            switch f.decode(bits) {
            case .success(let v): return .card(format: f.name, facility: v.facility, card: v.card)
            case .failure(let e): if firstError == nil { firstError = e }
            }
        }
        return .rejected(reason: firstError!.description, bits: bits.count)
    }
}

extension WiegandFormat {
    /// Pulses a reader would send for these bits, `spacing` apart from `start`.
    public static func pulses(_ bits: [Bool], start: Date, spacing: TimeInterval = 0.002) -> [WiegandPulse] {
        bits.enumerated().map { WiegandPulse(line: $0.element ? .d1 : .d0, at: start.addingTimeInterval(Double($0.offset) * spacing)) }
    }
}
