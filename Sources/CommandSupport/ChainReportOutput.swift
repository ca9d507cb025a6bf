import ArgumentParser
import FleetProtocol

extension CentralChainReport {
    /// The reports as lines (or JSON); exit status 1 when any chain does not hold. Shared by
    /// `audit verify --server` and `warden-server verify`.
    package static func show(_ reports: [CentralChainReport], json: Bool) throws {
        let ok = allHold(reports)
        if json {
            struct R: Codable { let ok: Bool; let controllers: [CentralChainReport] }
            try Output.json(R(ok: ok, controllers: reports))
        } else {
            for r in reports {
                print("\(r.problems.isEmpty ? "OK    " : "BROKEN") \(r.controller): \(r.rows) rows through \(r.highWater)")
                for p in r.problems { print("         \(p)") }
            }
        }
        if !ok { throw ExitCode(1) }
    }
}
