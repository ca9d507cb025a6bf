import Foundation

/// Empties one input line's kernel event queue on a thread of its own. A Wiegand reader
/// sends a pulse every 2 ms, and the kernel keeps only 16 events per line: a door loop
/// busy for 20-30 ms (a camera frame on a small board) would lose bits and reject the
/// card. Here the thread blocks in the kernel until an edge arrives, so the queue never
/// fills; the loop takes the edges, with their kernel timestamps, when it is ready.
final class EdgeCollector: @unchecked Sendable {
    private let line: any GPIOInput
    private let lock = NSLock()
    private var edges: [LineEdge] = []
    private var failure: GPIOError?
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    /// More edges than any card sends between two loop passes: beyond this the line is
    /// noise, and the oldest are dropped (the decoder rejects the frame either way).
    static let capacity = 4096

    init(line: any GPIOInput, name: String) {
        self.line = line
        let t = Thread { [self] in run() }
        t.name = "warden.edges.\(name)"
        t.start()
    }

    private func run() {
        defer { finished.signal() }
        while true {
            lock.lock(); let stop = stopping; lock.unlock()
            if stop { return }
            do {
                let got = try line.waitForEdges(timeout: 0.1)
                guard !got.isEmpty else { continue }
                lock.lock()
                edges += got
                if edges.count > Self.capacity { edges.removeFirst(edges.count - Self.capacity) }
                lock.unlock()
            } catch {
                lock.lock(); failure = error; lock.unlock()
                return
            }
        }
    }

    /// The edges since the last call; rethrows the error that stopped the thread, if any.
    func take() throws(GPIOError) -> [LineEdge] {
        lock.lock(); defer { edges = []; lock.unlock() }
        if let failure { throw failure }
        return edges
    }

    /// Stops the thread and waits (briefly) for it, so the line can be released safely.
    func stop() {
        lock.lock(); stopping = true; lock.unlock()
        _ = finished.wait(timeout: .now() + 1)
    }
}
