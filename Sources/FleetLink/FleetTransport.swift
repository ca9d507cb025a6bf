import HTTPClient
import FleetProtocol
import Foundation

/// Why a request to the server did not get an answer it could use.
public enum FleetLinkError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No answer: the network, the server or its database is down. The controller keeps
    /// deciding from its replica and retries.
    case unreachable(String)
    /// The server answered and refused, with its reason.
    case refused(status: Int, ErrorReply)
    case invalid(String)

    public var description: String {
        switch self {
        case .unreachable(let why): return "the fleet server cannot be reached: \(why)"
        case .refused(let status, let reply): return "the fleet server refused (HTTP \(status)): \(reply.error)"
        case .invalid(let why): return why
        }
    }
}

/// The network link to the server: a port, as GPIO and cameras are. `HTTPSFleetTransport`
/// is the real one; tests can put anything that answers like a server behind it.
public protocol FleetTransport: Sendable {
    func get(_ path: String, query: [String: String], timeout: Duration) async throws(FleetLinkError) -> Data
    func post(_ path: String, body: Data, timeout: Duration) async throws(FleetLinkError) -> Data
    func shutdown() async
}

/// HTTPS through libcurl (Debian's, on OpenSSL). With a membership, mutual TLS: the
/// controller's own certificate, and the site CA as the only trusted root, with the
/// server's name checked. libcurl rather than AsyncHTTPClient keeps SwiftNIO, BoringSSL
/// and an HTTP/2 stack out of a door controller's binary: it builds in a fraction of the
/// time (CI builds it twice) and carries far less code onto the board.
///
/// Each request runs on a thread of its own (libcurl blocks), never on Swift's
/// cooperative pool.
public final class HTTPSFleetTransport: FleetTransport, @unchecked Sendable {
    let base: String
    let identity: KeyAndCertificate?
    let trustedCA: String?
    let headers: [(String, String)]

    /// `identity` nil: no client certificate (fetching the CA, joining, the admin API).
    /// `trustedCA` nil: the server's certificate is not checked at all, only for fetching
    /// the CA itself, whose fingerprint the caller then compares with the join token's.
    /// `headers`: sent with every request (an operator's `Authorization`, for the admin API).
    public init(server: String, identity: KeyAndCertificate?, trustedCA: String?, headers: [(String, String)] = []) throws(FleetLinkError) {
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), url.scheme == "https", url.host != nil else {
            throw .invalid("server '\(server)' is not an https:// URL (for example https://warden.example.org:8443)")
        }
        self.base = base; self.identity = identity; self.trustedCA = trustedCA; self.headers = headers
    }


    public func get(_ path: String, query: [String: String], timeout: Duration) async throws(FleetLinkError) -> Data {
        // Values are people's names too ("Grace Hopper", "O'Brien & Co"): every byte outside
        // the unreserved set is escaped, so none can end the value or add a parameter.
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        func escaped(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "" }
        let q = query.isEmpty ? "" : "?" + query.sorted { $0.key < $1.key }.map { "\(escaped($0.key))=\(escaped($0.value))" }.joined(separator: "&")
        return try await send(url: base + path + q, body: nil, timeout: timeout)
    }

    public func post(_ path: String, body: Data, timeout: Duration) async throws(FleetLinkError) -> Data {
        try await send(url: base + path, body: body, timeout: timeout)
    }

    private func send(url: String, body: Data?, timeout: Duration) async throws(FleetLinkError) -> Data {
        let request = CurlRequest(url: url, body: body, timeoutMilliseconds: Int(timeout.components.seconds) * 1000 + 1000,
                                  clientCertificate: identity.map { ($0.certificatePEM, $0.privateKeyPEM) },
                                  // The site CA only, or (fetching the CA itself) nothing checked.
                                  trust: trustedCA.map { .only(pem: $0) } ?? .unchecked, httpsOnly: true,
                                  headers: headers + [(FleetProtocol.versionHeader, String(FleetProtocol.version))] + (body == nil ? [] : [("content-type", "application/json")]))
        let outcome: Result<CurlResponse, CurlError> = await withCheckedContinuation { c in
            let t = Thread { c.resume(returning: request.perform()) }
            t.name = "warden.fleet-http"
            t.start()
        }
        let status: Int, data: Data
        switch outcome {
        case .success(let r): (status, data) = (r.status, r.body)
        case .failure(.setup(let why)): throw .invalid(why)
        case .failure(.transfer(let why)): throw .unreachable(why)
        }
        guard (200..<300).contains(status) else {
            let reply = (try? FleetJSON.decoder().decode(ErrorReply.self, from: data)) ?? ErrorReply(error: String(decoding: data.prefix(300), as: UTF8.self))
            // A server whose database is down answers 503: as good as unreachable.
            if status == 503 || status == 502 { throw .unreachable("HTTP \(status): \(reply.error)") }
            throw .refused(status: status, reply)
        }
        return data
    }

    public func shutdown() async {}
}

/// The link's pace. Chosen so a revoked badge reaches a connected board within a second or
/// two (the long poll returns as soon as the change commits), and a dead link is noticed
/// within `heartbeat * 2`.
public enum FleetTiming {
    public static let longPoll: Double = 25
    public static let heartbeat: Double = 5
    public static let uploadBatch = 2_000
    public static let retryAfterFailure: Double = 2
    public static let clockSkewAlarm: Double = 10
}

extension FleetTransport {
    public func getJSON<T: Decodable>(_ type: T.Type, _ path: String, query: [String: String] = [:], timeout: Duration = .seconds(10)) async throws(FleetLinkError) -> T {
        let data = try await get(path, query: query, timeout: timeout)
        do { return try FleetJSON.decoder().decode(T.self, from: data) } catch { throw .invalid("the server's answer to \(path) is not a \(T.self): \(error)") }
    }

    public func postJSON<B: Encodable, T: Decodable>(_ type: T.Type, _ path: String, _ body: B, timeout: Duration = .seconds(20)) async throws(FleetLinkError) -> T {
        let encoded: Data
        do { encoded = try FleetJSON.encoder().encode(body) } catch { throw .invalid("cannot encode \(B.self): \(error)") }
        let data = try await post(path, body: encoded, timeout: timeout)
        do { return try FleetJSON.decoder().decode(T.self, from: data) } catch { throw .invalid("the server's answer to \(path) is not a \(T.self): \(error)") }
    }
}
