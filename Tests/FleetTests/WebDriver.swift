import PrivateServers
import Foundation
import HTTPClient
import WardenCore

/// A headless Chromium driven through chromedriver's W3C WebDriver protocol (JSON over
/// HTTP on loopback): what Selenium does, without a Python dependency. The browser is
/// Debian's `chromium` and `chromium-driver`, as `make setup` installs them.
final class WebDriver: @unchecked Sendable {
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"
    /// Why the browser tests cannot run here, or nil when they can.
    static var missing: String? {
        for path in [chromium, chromedriver] where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(path) is not installed (`make setup` installs Debian's chromium and chromium-driver)"
        }
        return nil
    }

    private let driver: ChildProcess.Running
    private let base: String
    private(set) var session = ""
    /// Where screenshots go: one folder per test.
    let screenshots: URL

    struct Failure: Error, CustomStringConvertible { let description: String }
    /// An element's reference, as the protocol names it.
    struct Element { let id: String }
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    init(screenshots: URL, width: Int = 1280, height: Int = 900) throws {
        self.screenshots = screenshots
        try? FileManager.default.removeItem(at: screenshots)
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        let port = try LoopbackPort.free()
        driver = try ChildProcess.start([Self.chromedriver, "--port=\(port)", "--allowed-ips=127.0.0.1"])
        base = "http://127.0.0.1:\(port)"
        var up = false
        for _ in 0..<200 where !up {
            if case .success(let r) = CurlRequest(url: base + "/status", body: nil, timeoutMilliseconds: 2000, trust: .system, httpsOnly: false, headers: []).perform(), r.status == 200 { up = true; break }
            usleep(100_000)
        }
        guard up else { driver.kill(SIGKILL); _ = driver.wait(); throw Failure(description: "chromedriver did not answer on port \(port) within 20 s") }
        // The server's certificate is signed by the test's own site CA, which this fresh
        // profile does not know: accepted for the session (the console's TLS is tested with
        // the CA pinned in WebConsoleTests).
        let caps: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome", "acceptInsecureCerts": true,
            "goog:chromeOptions": ["binary": Self.chromium,
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                                            "--user-data-dir=" + NSTemporaryDirectory() + "warden-chromium-\(UUID().uuidString.prefix(8))"]],
        ]]]
        do {
            let v = try Self.blockingCall(base, "POST", "/session", caps, timeout: 60_000)
            guard let id = (v as? [String: Any])?["sessionId"] as? String else { throw Failure(description: "no session in \(String(describing: v))") }
            session = id
        } catch { quit(); throw error }
    }

    /// Ends the browser and the driver.
    func quit() {
        if !session.isEmpty { _ = try? Self.blockingCall(base, "DELETE", "/session/\(session)", nil) }
        session = ""
        driver.kill(SIGTERM)
        _ = driver.wait()
    }

    /// One command, on a thread of its own (the server under test shares this process's
    /// cooperative pool).
    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]?, timeout: Int = 90_000) async throws -> Any? {
        let request = try Self.request(base, method, path, body, timeout: timeout)
        return try Self.value(await offThePool { request.perform() }, method, path)
    }

    static func blockingCall(_ base: String, _ method: String, _ path: String, _ body: [String: Any]?, timeout: Int = 30_000) throws -> Any? {
        try value(request(base, method, path, body, timeout: timeout).perform(), method, path)
    }

    static func request(_ base: String, _ method: String, _ path: String, _ body: [String: Any]?, timeout: Int) throws -> CurlRequest {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        return CurlRequest(url: base + path, body: data, timeoutMilliseconds: timeout, trust: .system, httpsOnly: false,
                           headers: [("Content-Type", "application/json")], method: method)
    }

    static func value(_ r: Result<CurlResponse, CurlError>, _ method: String, _ path: String) throws -> Any? {
        guard case .success(let response) = r else { throw Failure(description: "WebDriver \(method) \(path): \(r)") }
        let json = try? JSONSerialization.jsonObject(with: response.body)
        let value = (json as? [String: Any])?["value"]
        if response.status != 200 {
            let v = value as? [String: Any]
            throw Failure(description: "WebDriver \(method) \(path): \(response.status) \(v?["error"] ?? "") \(String(describing: v?["message"] ?? "").prefix(400))")
        }
        return value
    }

    private var s: String { "/session/\(session)" }

    func open(_ url: String) async throws { try await call("POST", s + "/url", ["url": url]) }
    var url: String { get async throws { try await call("GET", s + "/url", nil) as? String ?? "" } }

    func find(_ css: String) async throws -> Element {
        let v = try await call("POST", s + "/element", ["using": "css selector", "value": css])
        guard let id = (v as? [String: Any])?[Self.elementKey] as? String else { throw Failure(description: "no element \(css)") }
        return Element(id: id)
    }

    func findAll(_ css: String) async throws -> [Element] {
        let v = try await call("POST", s + "/elements", ["using": "css selector", "value": css]) as? [[String: Any]] ?? []
        return v.compactMap { ($0[Self.elementKey] as? String).map(Element.init) }
    }

    func type(_ css: String, _ text: String) async throws {
        let e = try await find(css)
        try await call("POST", s + "/element/\(e.id)/clear", [:])
        try await call("POST", s + "/element/\(e.id)/value", ["text": text])
    }

    /// A file input given a file, as a person picking it would.
    func attach(_ css: String, file: String) async throws { try await call("POST", s + "/element/\(try await find(css).id)/value", ["text": file]) }

    func click(_ css: String) async throws { try await call("POST", s + "/element/\(try await find(css).id)/click", [:]) }

    func select(_ css: String, _ value: String) async throws {
        try await script("const s = document.querySelector(arguments[0]); s.value = arguments[1]; if (s.value !== arguments[1]) throw new Error('no option ' + arguments[1]);", [css, value])
    }

    func text(_ css: String) async throws -> String { try await call("GET", s + "/element/\(try await find(css).id)/text", nil) as? String ?? "" }

    @discardableResult
    func script(_ js: String, _ args: [Any] = []) async throws -> Any? { try await call("POST", s + "/execute/sync", ["script": js, "args": args]) }

    /// A script that calls its last argument when done (a fetch, say).
    func asyncScript(_ js: String, _ args: [Any] = []) async throws -> Any? { try await call("POST", s + "/execute/async", ["script": js, "args": args]) }

    func resize(width: Int, height: Int) async throws { try await call("POST", s + "/window/rect", ["width": width, "height": height]) }

    /// Polls until `condition` holds, every 100 ms, up to `attempts` times (60 s by default:
    /// a bound for a CI machine twice as slow under two test processes, never a measure);
    /// the failure says what was awaited and what the page showed last.
    func wait(_ what: String, attempts: Int = 600, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<attempts {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let body = (try? await script("return document.body ? document.body.innerText : ''") as? String) ?? nil
        let at = (try? await url) ?? "?"
        throw Failure(description: "waited for \(what); the page at \(at) shows:\n\(body?.prefix(2000) ?? "")")
    }

    /// The page as a PNG under the test's screenshot folder.
    @discardableResult
    func screenshot(_ name: String) async throws -> URL {
        guard let b64 = try await call("GET", s + "/screenshot", nil) as? String, let png = Data(base64Encoded: b64) else { throw Failure(description: "no screenshot") }
        let file = screenshots.appendingPathComponent(name + ".png")
        try png.write(to: file)
        return file
    }
}
