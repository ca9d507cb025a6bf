import Foundation
import Hummingbird
import Logging

/// The requests under way, by path and age: what a stopping server is still waiting for.
package final class RequestLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var open: [UInt64: (path: String, since: ContinuousClock.Instant)] = [:]
    private var next: UInt64 = 0

    func begin(_ path: String) -> UInt64 {
        lock.withLock { next += 1; open[next] = (String(path.prefix(120)), .now); return next }
    }
    func end(_ id: UInt64) { _ = lock.withLock { open.removeValue(forKey: id) } }

    /// "GET /fleet/v1/changes for 31 s", oldest first.
    package func describe() -> [String] {
        let now = ContinuousClock.now
        return lock.withLock { open.values.sorted { $0.since < $1.since }.map { "\($0.path) for \((now - $0.since).components.seconds) s" } }
    }
}

struct LedgerMiddleware: RouterMiddleware {
    typealias Context = FleetRequestContext
    let ledger: RequestLedger
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = ledger.begin("\(request.method) \(request.uri.path)")
        defer { ledger.end(id) }
        return try await next(request, context)
    }
}

/// A bound on a graceful shutdown. Once SIGTERM or SIGINT arrives, the server has
/// `limit` to finish; past it, it logs every request still under way (the cause of a stop
/// that never ended, seen once after a long probe and not reproduced since) and exits with
/// status 1, before systemd's TimeoutStopSec kills it without a word.
package enum ShutdownWatch {
    package static func arm(limit: Duration, ledger: RequestLedger, logger: Logger) -> [DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: Double(limit.components.seconds))
                    let open = ledger.describe()
                    logger.critical("warden server: still stopping after \(limit); requests under way: \(open.isEmpty ? "none (something else holds the exit)" : open.joined(separator: "; ")); exiting with status 1")
                    exit(1)
                }
            }
            source.resume()
            return source
        }
    }
}
