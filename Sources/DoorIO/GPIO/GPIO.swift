import Foundation

/// Which GPIO line, and how to treat it. A line is found by chip and offset, or by its
/// name (as `gpiofind` does). "Active" is the logical level: with `activeLow`, a low
/// physical level reads as active.
public struct LineSpec: Sendable, Hashable, CustomStringConvertible {
    public enum Bias: String, Sendable, Hashable { case asIs = "as-is", disabled, pullUp = "pull-up", pullDown = "pull-down" }
    public var chip: String?
    public var offset: Int?
    public var name: String?
    public var activeLow: Bool
    public var bias: Bias
    /// Input changes shorter than this are ignored (contacts bounce).
    public var debounce: TimeInterval

    public init(chip: String? = nil, offset: Int? = nil, name: String? = nil, activeLow: Bool = false, bias: Bias = .asIs, debounce: TimeInterval = 0) {
        self.chip = chip; self.offset = offset; self.name = name; self.activeLow = activeLow; self.bias = bias; self.debounce = debounce
    }

    public var description: String {
        if let name { return "line '\(name)'" + (chip.map { " on \($0)" } ?? "") }
        return "\(chip ?? "?") line \(offset ?? -1)"
    }
}

/// A change of an input line's logical level.
public struct LineEdge: Sendable, Equatable {
    public var becameActive: Bool
    public var at: Date
    public init(becameActive: Bool, at: Date) { self.becameActive = becameActive; self.at = at }
}

public enum GPIOError: Error, Equatable, Sendable, CustomStringConvertible {
    case chipNotFound(String)
    case lineNotFound(String)
    case lineBusy(String, consumer: String?)
    case io(String)

    public var description: String {
        switch self {
        case .chipNotFound(let c): return "GPIO chip '\(c)' not found (ls /dev/gpiochip*; gpiodetect lists chips and labels)"
        case .lineNotFound(let l): return "\(l) not found (gpioinfo lists lines and their names)"
        case .lineBusy(let l, let c): return "\(l) is in use by \(c.map { "'\($0)'" } ?? "another process")"
        case .io(let s): return "GPIO error: \(s)"
        }
    }
}

/// A requested output line. Release it to hand it back to the kernel.
public protocol GPIOOutput: AnyObject, Sendable {
    var spec: LineSpec { get }
    func setActive(_ active: Bool) throws(GPIOError)
    func release()
}

/// A requested input line, reporting both edges.
public protocol GPIOInput: AnyObject, Sendable {
    var spec: LineSpec { get }
    func readActive() throws(GPIOError) -> Bool
    /// Edges since the last call, waiting up to `timeout` for the first.
    func waitForEdges(timeout: TimeInterval) throws(GPIOError) -> [LineEdge]
    func release()
}

/// The port: the real backend is libgpiod on the kernel's character device; the
/// simulated one serves unit tests and the demo. Both pass the same contract tests.
public protocol GPIOBackend: AnyObject, Sendable {
    func output(_ spec: LineSpec, consumer: String, initiallyActive: Bool) throws(GPIOError) -> any GPIOOutput
    func input(_ spec: LineSpec, consumer: String) throws(GPIOError) -> any GPIOInput
    /// An input for short pulses (Wiegand data lines) that reports only the edges into
    /// the active level, named by the edge itself rather than by a later read of the line.
    func pulseInput(_ spec: LineSpec, consumer: String) throws(GPIOError) -> any GPIOInput
    /// Who holds a line now (nil: free), for `warden hardware check`.
    func holder(of spec: LineSpec) throws(GPIOError) -> String?
    /// Whether `waitForEdges(timeout:)` really blocks until an edge or the timeout (so a
    /// thread may wait on it). The simulated backend runs on a manual clock and does not.
    var waitsBlock: Bool { get }
}

extension GPIOBackend {
    public var waitsBlock: Bool { false }
    public func pulseInput(_ spec: LineSpec, consumer: String) throws(GPIOError) -> any GPIOInput { try input(spec, consumer: consumer) }
}
