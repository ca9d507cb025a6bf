import FleetServer
import Foundation
import HTTPClient
import Testing
import WardenCore
import WebConsole

/// A browser's side of the console without a browser: libcurl against the running server,
/// trusting only the site CA, keeping the session cookie as a browser would, and never
/// following a redirect (the tests read where it points).
final class ConsoleClient: @unchecked Sendable {
    let base: String
    let trust: CurlTrust
    var cookie: String?
    /// What browsers send with every POST from a page of this site.
    var origin: String?

    convenience init(_ h: FleetHarness) throws {
        try self.init(base: h.url, caPEM: try h.serverHome.siteCA().pem.certificatePEM)
    }

    init(base: String, caPEM: String) {
        self.base = base
        trust = .only(pem: caPEM)
        origin = base
    }

    struct Reply {
        let status: Int
        let body: String
        let response: CurlResponse
        func header(_ name: String) -> String? { response.header(name).first }
        var location: String? { header("Location") }
    }

    func request(_ path: String, body: Data? = nil, headers extra: [(String, String)] = [], method: String? = nil) async throws -> Reply {
        var headers = extra
        if let cookie { headers.append(("Cookie", "\(WebConsole.cookieName)=\(cookie)")) }
        if body != nil, let origin { headers.append(("Origin", origin)) }
        let request = CurlRequest(url: base + path, body: body, timeoutMilliseconds: 30_000, trust: trust, httpsOnly: true, headers: headers, method: method)
        let r = await offThePool { request.perform() }
        switch r {
        case .success(let response):
            for c in response.header("Set-Cookie") where c.hasPrefix(WebConsole.cookieName + "=") {
                cookie = String(c.dropFirst(WebConsole.cookieName.count + 1).prefix { $0 != ";" })
            }
            return Reply(status: response.status, body: String(decoding: response.body, as: UTF8.self), response: response)
        case .failure(let e): throw e
        }
    }

    func get(_ path: String) async throws -> Reply { try await request(path) }

    /// A form as a browser posts it.
    func post(_ path: String, _ fields: [(String, String)]) async throws -> Reply {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let text = fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        return try await request(path, body: Data(text.utf8), headers: [("Content-Type", "application/x-www-form-urlencoded")])
    }

    @discardableResult
    func login(_ name: String, _ password: String, code: String? = nil) async throws -> Reply {
        try await post("/console/login", [("name", name), ("password", password)] + (code.map { [("code", $0)] } ?? []))
    }

    /// The CSRF token of the page at `path` (every signed-in page carries it in a meta tag).
    func csrf(_ path: String = "/console/people") async throws -> String {
        let page = try await get(path).body
        guard let r = page.range(of: "<meta name=\"csrf-token\" content=\""),
              let end = page[r.upperBound...].firstIndex(of: "\"") else { throw ConsoleTestError("no CSRF token on \(path)") }
        return String(page[r.upperBound..<end])
    }
}

/// Runs blocking work (libcurl, chromedriver, a poll's sleep) on a thread of its own: the
/// server under test runs in this process on the cooperative pool, two threads wide here,
/// and two suites blocking it at once starve the server (see scripts/test.sh).
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { done in Thread.detachNewThread { done.resume(with: Result { try body() }) } }
}

func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { done in Thread.detachNewThread { done.resume(returning: body()) } }
}

extension FleetHarness {
    /// Runs `body`, then stops the server and its PostgreSQL whatever `body` did: a test's
    /// `defer` cannot await, and a task started from it may never run before the test
    /// process exits (the servers of such tests were left running).
    func whileRunning(_ body: () async throws -> Void) async throws {
        do { try await body() } catch { await destroy(); throw error }
        await destroy()
    }
}

struct ConsoleTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}


/// The example site's policy files, as `warden policy publish` sends them.
enum ExamplePolicy {
    static func files() throws -> [String: String] {
        let dir = FleetBoardProcessTests.root.appendingPathComponent("policies/example")
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".yaml") {
            files[name] = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        }
        return files
    }
}
