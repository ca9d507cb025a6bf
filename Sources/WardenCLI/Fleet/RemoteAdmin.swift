import CommandSupport
import FleetLink
import FleetProtocol
import Foundation

/// The admin commands against the fleet server instead of a local database: `--server URL`
/// or `WARDEN_SERVER`, with the operator's token in `WARDEN_OPERATOR_TOKEN`. Same
/// commands, same `--json`, and the server's refusals in the same words.
struct RemoteAdmin {
    let server: String
    /// libcurl: each request its own connection, nothing to close afterwards.
    let transport: HTTPSFleetTransport

    func post<B: Encodable & Sendable, T: Decodable & Sendable>(_ type: T.Type, _ path: String, _ body: B) throws -> T {
        let t = transport
        return try Self.mapped { try await t.postJSON(T.self, path, body, timeout: .seconds(120)) }
    }

    func get<T: Decodable & Sendable>(_ type: T.Type, _ path: String, query: [String: String] = [:]) throws -> T {
        let t = transport
        return try Self.mapped { try await t.getJSON(T.self, path, query: query, timeout: .seconds(120)) }
    }

    static func mapped<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        do { return try runBlocking(body) } catch FleetLinkError.refused(_, let reply) { throw CLIError(reply.error) } catch { throw CLIError("\(error)") }
    }
}

extension ReachesServer {
    /// The fleet server to make changes at, or nil for this home's own database.
    func remoteAdmin(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteAdmin? {
        guard let url = server ?? environment["WARDEN_SERVER"], !url.isEmpty else { return nil }
        guard let token = environment["WARDEN_OPERATOR_TOKEN"], !token.isEmpty else {
            throw CLIError("--server needs an operator token in WARDEN_OPERATOR_TOKEN (made with `warden server operator add NAME --role ROLE`)")
        }
        // The site CA: given, else the one this host already trusts (a server's or a board's home).
        let candidates = [serverCA ?? environment["WARDEN_SERVER_CA"], wardenHome.file("server/ca.pem"), wardenHome.file("fleet/ca.pem")].compactMap { $0 }
        guard let caPath = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }),
              let ca = try? String(contentsOfFile: caPath, encoding: .utf8) else {
            throw CLIError("--server needs the site CA's certificate: --server-ca FILE or WARDEN_SERVER_CA (the server's <home>/server/ca.pem)")
        }
        do {
            let t = try HTTPSFleetTransport(server: url, identity: nil, trustedCA: ca, headers: [("authorization", "Bearer \(token)")])
            return RemoteAdmin(server: url, transport: t)
        } catch { throw CLIError("\(error)") }
    }
}
