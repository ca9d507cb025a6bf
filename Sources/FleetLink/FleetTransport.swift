import CCurl
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
        _ = Self.globalInit
    }

    static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

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
                                  identity: identity, trustedCA: trustedCA,
                                  headers: headers + [(FleetProtocol.versionHeader, String(FleetProtocol.version))] + (body == nil ? [] : [("content-type", "application/json")]))
        let outcome: Result<(Int, Data), FleetLinkError> = await withCheckedContinuation { c in
            let t = Thread { c.resume(returning: request.perform()) }
            t.name = "warden.fleet-http"
            t.start()
        }
        let (status, data) = try outcome.get()
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

/// One blocking libcurl exchange.
struct CurlRequest: Sendable {
    let url: String
    let body: Data?
    let timeoutMilliseconds: Int
    let identity: KeyAndCertificate?
    let trustedCA: String?
    let headers: [(String, String)]

    final class Sink { var data = Data(); let limit = 256 << 20 }

    func perform() -> Result<(Int, Data), FleetLinkError> {
        guard let c = curl_easy_init() else { return .failure(.unreachable("libcurl could not start a request")) }
        defer { curl_easy_cleanup(c) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for (n, v) in headers { list = curl_slist_append(list, "\(n): \(v)") }
        let sink = Sink()
        let unmanaged = Unmanaged.passRetained(sink)
        defer { unmanaged.release() }
        var setupFailed: CURLcode = CURLE_OK
        func check(_ r: CURLcode) { if r != CURLE_OK && setupFailed == CURLE_OK { setupFailed = r } }
        check(warden_curl_set_string(c, CURLOPT_URL, url))
        check(warden_curl_set_long(c, CURLOPT_NOSIGNAL, 1))
        check(warden_curl_set_long(c, CURLOPT_TIMEOUT_MS, timeoutMilliseconds))
        check(warden_curl_set_long(c, CURLOPT_CONNECTTIMEOUT_MS, 5000))
        check(warden_curl_set_long(c, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2)))
        check(warden_curl_set_long(c, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTPS)))
        check(warden_curl_set_pointer(c, CURLOPT_HTTPHEADER, list))
        check(warden_curl_set_pointer(c, CURLOPT_ERRORBUFFER, &errorBuffer))
        if let trustedCA {
            check(Array(trustedCA.utf8).withUnsafeBytes { warden_curl_set_blob(c, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) })
            // Only the site CA: never the system's roots.
            check(warden_curl_set_string(c, CURLOPT_CAPATH, nil))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYPEER, 1))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYHOST, 2))
        } else {
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYPEER, 0))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYHOST, 0))
        }
        if let identity {
            check(Array(identity.certificatePEM.utf8).withUnsafeBytes { warden_curl_set_blob(c, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) })
            check(warden_curl_set_string(c, CURLOPT_SSLCERTTYPE, "PEM"))
            check(Array(identity.privateKeyPEM.utf8).withUnsafeBytes { warden_curl_set_blob(c, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) })
            check(warden_curl_set_string(c, CURLOPT_SSLKEYTYPE, "PEM"))
        }
        let bodyBytes = body.map { [UInt8]($0) } ?? []
        if body != nil {
            check(warden_curl_set_long(c, CURLOPT_POST, 1))
            check(warden_curl_set_long(c, CURLOPT_POSTFIELDSIZE, bodyBytes.count))
        }
        check(warden_curl_set_write(c, { ptr, size, n, user in
            guard let ptr, let user else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(user).takeUnretainedValue()
            let count = size * n
            guard sink.data.count + count <= sink.limit else { return 0 }
            sink.data.append(UnsafeRawPointer(ptr).assumingMemoryBound(to: UInt8.self), count: count)
            return count
        }, unmanaged.toOpaque()))
        guard setupFailed == CURLE_OK else { return .failure(.invalid("libcurl refused an option: \(String(cString: curl_easy_strerror(setupFailed)))")) }
        let code: CURLcode = bodyBytes.withUnsafeBytes { raw in
            if body != nil { _ = warden_curl_set_pointer(c, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) }
            return curl_easy_perform(c)
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let what = String(cString: curl_easy_strerror(code))
            let tls = [CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE].contains(code)
            return .failure(.unreachable((tls ? "TLS handshake failed: " : "") + what + (detail.isEmpty ? "" : " (\(detail))")))
        }
        return .success((warden_curl_response_code(c), sink.data))
    }
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
