import Foundation

/// The hash chain, for logs kept elsewhere than a board's `audit.sqlite`: the fleet server
/// checks each controller's rows with it as they arrive, and chains its own admin events
/// with it. One definition, so a row verifies the same on a board and at the server.
public enum AuditChain {
    public static let genesisHash = AuditStore.genesisHash

    /// The row that `event` becomes at `seq`, after a row whose hash is `prevHash`.
    public static func row(for event: AuditEvent, seq: Int64, prevHash: String) throws -> AuditRow {
        var e = event
        e.seq = seq
        let payload = try CanonicalEncoding.encode(e)
        return AuditRow(seq: seq, payload: payload, prevHash: prevHash, hash: AuditStore.chainHash(prev: prevHash, payload: payload))
    }

    /// Why a row does not hold together, or nil: its hash is not that of its payload and
    /// predecessor, its payload does not decode, or it names another sequence number.
    public static func problem(with row: AuditRow) -> String? {
        if case .failure(let p) = checked(row) { return p.description }
        return nil
    }

    /// The row's event when the row holds together, else why not: the server ingests with
    /// this, so each row's payload is decoded once.
    public static func checked(_ row: AuditRow) -> Result<AuditEvent, RowProblem> {
        guard AuditStore.chainHash(prev: row.prevHash, payload: row.payload) == row.hash else {
            return .failure(RowProblem(description: "row \(row.seq): its hash is not the hash of its payload and predecessor (changed after it was written)"))
        }
        guard let e = try? CanonicalEncoding.decode(row.payload) else { return .failure(RowProblem(description: "row \(row.seq): its payload is not an audit event")) }
        guard e.seq == row.seq else { return .failure(RowProblem(description: "row \(row.seq): its payload says it is row \(e.seq)")) }
        return .success(e)
    }

    public struct RowProblem: Error, CustomStringConvertible, Sendable { public let description: String }

    public static func event(of row: AuditRow) throws -> AuditEvent { try CanonicalEncoding.decode(row.payload) }
}
