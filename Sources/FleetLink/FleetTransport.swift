import AsyncHTTPClient
import FleetProtocol
import Foundation
import NIOCore
import NIOSSL

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

/// HTTPS through AsyncHTTPClient. With a membership, mutual TLS: the controller's own
/// certificate, and the site CA as the only trusted root, with the server's name checked.
public final class HTTPSFleetTransport: FleetTransport {
    let base: String
    let client: HTTPClient
    let headers: [(String, String)]

    /// `identity` nil: no client certificate (fetching the CA, joining). `trustedCA` nil:
    /// the server's certificate is not checked at all, only for fetching the CA itself,
    /// whose fingerprint the caller then compares with the one the join token carries.
    /// `headers`: sent with every request (an operator's `Authorization`, for the admin API).
    public init(server: String, identity: KeyAndCertificate?, trustedCA: String?, headers: [(String, String)] = []) throws(FleetLinkError) {
        self.headers = headers
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), url.scheme == "https", url.host != nil else {
            throw .invalid("server '\(server)' is not an https:// URL (for example https://warden.example.org:8443)")
        }
        self.base = base
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        do {
            if let trustedCA {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(trustedCA.utf8)))
                tls.certificateVerification = .fullVerification
            } else {
                tls.certificateVerification = .none
            }
            if let identity {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem))
            }
        } catch { throw .invalid("the controller's TLS files cannot be read: \(error)") }
        var config = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(5), read: .seconds(Int64(FleetTiming.longPoll + 15))))
        config.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func get(_ path: String, query: [String: String], timeout: Duration) async throws(FleetLinkError) -> Data {
        let q = query.isEmpty ? "" : "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        var req = HTTPClientRequest(url: base + path + q)
        req.method = .GET
        return try await send(req, timeout: timeout)
    }

    public func post(_ path: String, body: Data, timeout: Duration) async throws(FleetLinkError) -> Data {
        var req = HTTPClientRequest(url: base + path)
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        req.body = .bytes(ByteBuffer(bytes: body))
        return try await send(req, timeout: timeout)
    }

    private func send(_ req: HTTPClientRequest, timeout: Duration) async throws(FleetLinkError) -> Data {
        var req = req
        req.headers.add(name: FleetProtocol.versionHeader, value: String(FleetProtocol.version))
        for (n, v) in headers { req.headers.add(name: n, value: v) }
        let status: Int
        let body: ByteBuffer
        do {
            let seconds = Int64(timeout.components.seconds) + 1
            let resp = try await client.execute(req, timeout: .seconds(seconds))
            status = Int(resp.status.code)
            body = try await resp.body.collect(upTo: 256 << 20)
        } catch {
            throw .unreachable(Self.describe(error))
        }
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(status) else {
            let reply = (try? FleetJSON.decoder().decode(ErrorReply.self, from: data)) ?? ErrorReply(error: String(decoding: data.prefix(300), as: UTF8.self))
            // A server whose database is down answers 503: as good as unreachable.
            if status == 503 || status == 502 { throw .unreachable("HTTP \(status): \(reply.error)") }
            throw .refused(status: status, reply)
        }
        return data
    }

    static func describe(_ error: Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("Connection refused") || text.contains("connectionRefused") { return "connection refused" }
        if text.contains("handshakeFailed") || text.contains("NIOSSL") { return "TLS handshake failed (\(text.prefix(200)))" }
        return String(text.prefix(300))
    }

    public func shutdown() async { try? await client.shutdown() }
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
