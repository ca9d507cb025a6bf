import FleetProtocol
import Foundation

/// Boards asking for the same page at the same time share one reading of it. Every long
/// poll wakes on the same commit and asks for "since R" with the same R, so without this a
/// fleet of N boards made N identical sets of queries per change (measured: 1,000 boards,
/// p50 2.5 s from commit to delivery). Only reads in flight are shared; nothing is kept
/// after, so no answer is older than the request that asked for it, plus the reading it
/// joined.
actor SharedChanges {
    private var inFlight: [Int64: Task<ChangeSet, Error>] = [:]

    func changes(since: Int64, _ read: @escaping @Sendable (Int64) async throws -> ChangeSet) async throws -> ChangeSet {
        if let t = inFlight[since] { return try await t.value }
        let t = Task { try await read(since) }
        inFlight[since] = t
        defer { inFlight[since] = nil }
        return try await t.value
    }
}
