import Foundation
import Logging
import PostgresNIO

/// Wakes long polls when a change commits, on this server instance or any other sharing
/// the database: PostgreSQL's LISTEN/NOTIFY on `CentralStore.notifyChannel`. A lost
/// listening connection only slows propagation to the polls' fallback interval.
public actor ChangeNotifier {
    private var latest: Int64 = 0
    private var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]

    public init() {}

    public func publish(_ revision: Int64) {
        guard revision > latest else { return }
        latest = revision
        let w = waiters
        waiters = [:]
        for (_, c) in w { c.resume() }
    }

    /// Returns when a revision above `revision` is published, or after `timeout`.
    public func wait(after revision: Int64, timeout: Duration) async {
        if latest > revision { return }
        let id = UUID()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.timeOut(id)
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in self.register(id, c) }
            group.cancelAll()
        }
    }

    /// Wakes every long poll (the server is stopping: each answers what it has at once).
    public func wakeAll() {
        let w = waiters
        waiters = [:]
        for (_, c) in w { c.resume() }
    }

    private func register(_ id: UUID, _ c: CheckedContinuation<Void, Never>) { waiters[id] = c }
    private func timeOut(_ id: UUID) { waiters.removeValue(forKey: id)?.resume() }

    /// Listens until cancelled, reconnecting after a lost connection.
    public func listen(_ client: PostgresClient, logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { conn in
                    try await conn.listen(on: CentralStore.notifyChannel) { notifications in
                        for try await n in notifications { if let r = Int64(n.payload) { self.publish(r) } }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("change notifications lost (\(error)); retrying in 2 s")
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }
}
