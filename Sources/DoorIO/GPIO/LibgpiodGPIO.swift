import CGPIOD
import Foundation

/// The real backend: libgpiod 1.6 on the kernel's GPIO character device
/// (`/dev/gpiochipN`). No sysfs. Lines are held for as long as the process holds the
/// request; when the process exits, however it exits, the kernel releases them.
public final class LibgpiodGPIO: GPIOBackend, @unchecked Sendable {
    public init() {}

    /// Opens the chip and line a spec names. The caller owns the returned chip handle.
    func open(_ spec: LineSpec) throws(GPIOError) -> (OpaquePointer, OpaquePointer) {
        if let name = spec.name {
            for chipName in chipCandidates(spec.chip) {
                guard let chip = gpiod_chip_open_lookup(chipName) else { continue }
                if let line = gpiod_chip_find_line(chip, name) { return (chip, line) }
                gpiod_chip_close(chip)
            }
            throw .lineNotFound(spec.description)
        }
        guard let chipName = spec.chip, let chip = gpiod_chip_open_lookup(chipName) else { throw .chipNotFound(spec.chip ?? "?") }
        guard let offset = spec.offset, offset >= 0, let line = gpiod_chip_get_line(chip, UInt32(offset)) else {
            gpiod_chip_close(chip)
            throw .lineNotFound(spec.description)
        }
        return (chip, line)
    }

    private func chipCandidates(_ chip: String?) -> [String] {
        if let chip { return [chip] }
        let devs = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        return devs.filter { $0.hasPrefix("gpiochip") }.sorted()
    }

    static func flags(_ spec: LineSpec) -> Int32 {
        var f: Int32 = 0
        if spec.activeLow { f |= Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) }
        switch spec.bias {
        case .asIs: break
        case .disabled: f |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .pullUp: f |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: f |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        }
        return f
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    public func output(_ spec: LineSpec, consumer: String, initiallyActive: Bool) throws(GPIOError) -> any GPIOOutput {
        let (chip, line) = try open(spec)
        if gpiod_line_is_used(line) {
            let holder = gpiod_line_consumer(line).map { String(cString: $0) }
            gpiod_chip_close(chip)
            throw .lineBusy(spec.description, consumer: holder)
        }
        guard gpiod_line_request_output_flags(line, consumer, Self.flags(spec), initiallyActive ? 1 : 0) == 0 else {
            let why = Self.errnoText()
            gpiod_chip_close(chip)
            throw errno == EBUSY ? .lineBusy(spec.description, consumer: nil) : .io("cannot request \(spec) as output: \(why)")
        }
        return LibgpiodOutput(chip: chip, line: line, spec: spec)
    }

    public var waitsBlock: Bool { true }

    public func input(_ spec: LineSpec, consumer: String) throws(GPIOError) -> any GPIOInput {
        try request(spec, consumer: consumer, onlyActivating: false)
    }

    /// With both edges requested, the kernel (uAPI v1) names each edge by reading the
    /// line when its handler runs; a 50-100 us Wiegand pulse is over by then on a loaded
    /// board, both edges read "inactive", and the bit is lost. Asking for the activating
    /// edge alone makes the kernel name it by the edge itself.
    public func pulseInput(_ spec: LineSpec, consumer: String) throws(GPIOError) -> any GPIOInput {
        try request(spec, consumer: consumer, onlyActivating: true)
    }

    private func request(_ spec: LineSpec, consumer: String, onlyActivating: Bool) throws(GPIOError) -> any GPIOInput {
        let (chip, line) = try open(spec)
        if gpiod_line_is_used(line) {
            let holder = gpiod_line_consumer(line).map { String(cString: $0) }
            gpiod_chip_close(chip)
            throw .lineBusy(spec.description, consumer: holder)
        }
        // Edges are logical: with the active-low flag, "rising" is the line becoming active.
        let requested = onlyActivating ? gpiod_line_request_rising_edge_events_flags(line, consumer, Self.flags(spec))
                                       : gpiod_line_request_both_edges_events_flags(line, consumer, Self.flags(spec))
        guard requested == 0 else {
            let why = Self.errnoText()
            gpiod_chip_close(chip)
            throw errno == EBUSY ? .lineBusy(spec.description, consumer: nil) : .io("cannot request \(spec) for edge events: \(why)")
        }
        return LibgpiodInput(chip: chip, line: line, spec: spec)
    }

    public func holder(of spec: LineSpec) throws(GPIOError) -> String? {
        let (chip, line) = try open(spec)
        defer { gpiod_chip_close(chip) }
        guard gpiod_line_is_used(line) else { return nil }
        return gpiod_line_consumer(line).map { String(cString: $0) } ?? "(unnamed)"
    }
}

final class LibgpiodOutput: GPIOOutput, @unchecked Sendable {
    let chip: OpaquePointer
    let line: OpaquePointer
    let spec: LineSpec
    private let lock = NSLock()
    private var released = false
    init(chip: OpaquePointer, line: OpaquePointer, spec: LineSpec) { self.chip = chip; self.line = line; self.spec = spec }

    func setActive(_ active: Bool) throws(GPIOError) {
        lock.lock(); defer { lock.unlock() }
        guard !released else { throw .io("\(spec) was released") }
        guard gpiod_line_set_value(line, active ? 1 : 0) == 0 else { throw .io("cannot set \(spec): \(LibgpiodGPIO.errnoText())") }
    }

    func release() {
        lock.lock(); defer { lock.unlock() }
        guard !released else { return }
        released = true
        gpiod_line_release(line)
        gpiod_chip_close(chip)
    }

    deinit { release() }
}

final class LibgpiodInput: GPIOInput, @unchecked Sendable {
    let chip: OpaquePointer
    let line: OpaquePointer
    let spec: LineSpec
    private var released = false
    init(chip: OpaquePointer, line: OpaquePointer, spec: LineSpec) { self.chip = chip; self.line = line; self.spec = spec }

    func readActive() throws(GPIOError) -> Bool {
        let v = gpiod_line_get_value(line)
        guard v >= 0 else { throw .io("cannot read \(spec): \(LibgpiodGPIO.errnoText())") }
        return v == 1
    }

    func waitForEdges(timeout: TimeInterval) throws(GPIOError) -> [LineEdge] {
        var ts = timespec(tv_sec: Int(timeout), tv_nsec: Int((timeout - floor(timeout)) * 1e9))
        let r = gpiod_line_event_wait(line, &ts)
        guard r >= 0 else { throw .io("waiting on \(spec): \(LibgpiodGPIO.errnoText())") }
        guard r == 1 else { return [] }
        // Kernel timestamps are monotonic; place them on the wall clock.
        var mono = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        let wallNow = Date()
        var edges: [LineEdge] = []
        while true {
            var ev = gpiod_line_event()
            guard gpiod_line_event_read(line, &ev) == 0 else { break }
            let age = Double(mono.tv_sec - ev.ts.tv_sec) + Double(mono.tv_nsec - ev.ts.tv_nsec) / 1e9
            edges.append(LineEdge(becameActive: ev.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE), at: wallNow.addingTimeInterval(-max(0, age))))
            var zero = timespec(tv_sec: 0, tv_nsec: 0)
            if gpiod_line_event_wait(line, &zero) != 1 { break }
        }
        return edges
    }

    func release() {
        guard !released else { return }
        released = true
        gpiod_line_release(line)
        gpiod_chip_close(chip)
    }

    deinit { release() }
}
