import CCurl
import Foundation

/// What a request trusts of the server's certificate.
public enum CurlTrust: Sendable {
    /// This CA only (PEM), never the system's roots; the name checked.
    case only(pem: String)
    /// The system's roots (Debian's ca-certificates), the name checked.
    case system
    /// Nothing checked: only for fetching a CA whose fingerprint the caller then compares.
    case unchecked
}

public struct CurlResponse: Sendable {
    public let status: Int
    public let body: Data
    /// The response's header fields in order, names as sent.
    public let headers: [(name: String, value: String)]
    /// The values of every field with this name (case-insensitive).
    public func header(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
}

public enum CurlError: Error, Sendable, Equatable {
    /// libcurl refused an option: a bug or an impossible setting, not the network.
    case setup(String)
    /// The exchange failed: no connection, a timeout, a failed TLS handshake.
    case transfer(String)
}

/// One blocking libcurl exchange (Debian's libcurl, on OpenSSL): the fleet link's HTTPS and
/// the webhooks' POSTs. The caller runs it on a thread of its own, never on Swift's
/// cooperative pool. The answer is read up to 256 MiB.
public struct CurlRequest: Sendable {
    public let url: String
    public let body: Data?
    public let timeoutMilliseconds: Int
    /// A client certificate and its key (PEM), for mutual TLS.
    public let clientCertificate: (certificate: String, key: String)?
    public let trust: CurlTrust
    /// Refuse plain http:// (the fleet link); webhooks may allow it for a receiver on loopback.
    public let httpsOnly: Bool
    public let headers: [(String, String)]
    /// GET without a body, POST with one, unless named here (DELETE, say).
    public let method: String?

    public init(url: String, body: Data?, timeoutMilliseconds: Int, clientCertificate: (certificate: String, key: String)? = nil,
                trust: CurlTrust, httpsOnly: Bool, headers: [(String, String)], method: String? = nil) {
        self.url = url; self.body = body; self.timeoutMilliseconds = timeoutMilliseconds; self.clientCertificate = clientCertificate
        self.trust = trust; self.httpsOnly = httpsOnly; self.headers = headers; self.method = method
        _ = Self.globalInit
    }

    static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    final class Sink { var data = Data(); var headerLines: [String] = []; let limit = 256 << 20 }

    public func perform() -> Result<CurlResponse, CurlError> {
        guard let c = curl_easy_init() else { return .failure(.transfer("libcurl could not start a request")) }
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
        check(warden_curl_set_long(c, CURLOPT_PROTOCOLS, Int(httpsOnly ? CURLPROTO_HTTPS : CURLPROTO_HTTPS | CURLPROTO_HTTP)))
        check(warden_curl_set_pointer(c, CURLOPT_HTTPHEADER, list))
        check(warden_curl_set_pointer(c, CURLOPT_ERRORBUFFER, &errorBuffer))
        switch trust {
        case .only(let pem):
            check(Array(pem.utf8).withUnsafeBytes { warden_curl_set_blob(c, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) })
            check(warden_curl_set_string(c, CURLOPT_CAPATH, nil))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYPEER, 1))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYHOST, 2))
        case .system:
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYPEER, 1))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYHOST, 2))
        case .unchecked:
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYPEER, 0))
            check(warden_curl_set_long(c, CURLOPT_SSL_VERIFYHOST, 0))
        }
        if let id = clientCertificate {
            check(Array(id.certificate.utf8).withUnsafeBytes { warden_curl_set_blob(c, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) })
            check(warden_curl_set_string(c, CURLOPT_SSLCERTTYPE, "PEM"))
            check(Array(id.key.utf8).withUnsafeBytes { warden_curl_set_blob(c, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) })
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
        if let method { check(warden_curl_set_string(c, CURLOPT_CUSTOMREQUEST, method)) }
        check(warden_curl_set_header(c, { ptr, size, n, user in
            guard let ptr, let user else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(user).takeUnretainedValue()
            let count = size * n
            guard sink.headerLines.count < 1000 else { return 0 }
            sink.headerLines.append(String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self))
            return count
        }, unmanaged.toOpaque()))
        guard setupFailed == CURLE_OK else { return .failure(.setup("libcurl refused an option: \(String(cString: curl_easy_strerror(setupFailed)))")) }
        let code: CURLcode = bodyBytes.withUnsafeBytes { raw in
            if body != nil { _ = warden_curl_set_pointer(c, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) }
            return curl_easy_perform(c)
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let what = String(cString: curl_easy_strerror(code))
            let tls = [CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE].contains(code)
            return .failure(.transfer((tls ? "TLS handshake failed: " : "") + what + (detail.isEmpty ? "" : " (\(detail))")))
        }
        // The last response's fields only (a 100 Continue or a proxy's answer comes first).
        var fields: [(name: String, value: String)] = []
        for line in sink.headerLines {
            if line.hasPrefix("HTTP/") { fields = []; continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return .success(CurlResponse(status: warden_curl_response_code(c), body: sink.data, headers: fields))
    }
}
