import FleetProtocol
import FleetServer
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import Policy
import WardenCore

/// The web console: the guard's live board and the admin's pages, served by `warden server`
/// under /console, on the fleet's port and TLS. Server-rendered (Mustache) with a little
/// plain JavaScript for the live board and photo upload.
///
/// Every page needs a session (a password and, when set, a TOTP code); every change needs
/// the session's CSRF token and a same-origin request, and is refused unless the operator's
/// role, read afresh at each request, allows it. Every change goes through the same
/// CentralStore calls as the admin API, so it is audited with the operator's name.
public struct WebConsole: FleetServerExtension {
    public let limits: SessionLimits
    /// The console's clock, for sessions' time-outs (a test moves it by hand).
    let clock: @Sendable () -> Date
    let library: MustacheLibrary
    let flashes = FlashBox()

    public static let cookieName = "__Host-warden_session"
    static let maximumForm = 1 << 20

    public init(limits: SessionLimits = SessionLimits(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.limits = limits; self.clock = clock
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            // The templates are compiled in; one that does not parse is a bug caught by any test.
            do { try library.register(text, named: name) } catch { preconditionFailure("console template '\(name)' does not parse: \(error)") }
        }
        self.library = library
    }

    public func install(on router: Router<FleetRequestContext>, server: FleetHTTPServer) {
        // The decoy bcrypt hash for unknown names, built now rather than at the first one (a
        // refusal that took longer would tell that name apart).
        _ = CentralStore.decoyHash
        // On the router, not on the group: a group's middleware runs only for the routes it
        // matches, and a path no route matches (/console/nonexistent) was answered with a
        // bare 404. The router's middleware also wraps its not-found answer; it acts on
        // console paths alone, and the fleet's routes (added before) never see it.
        router.add(middleware: ConsoleHeaders())
        let console = router.group("console")
        let routes = ConsoleRoutes(console: self, server: server)
        routes.install(console)
    }
}

/// The security headers of every console response, error pages included.
struct ConsoleHeaders: RouterMiddleware {
    typealias Context = FleetRequestContext
    static let policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

    static func covers(_ path: String) -> Bool { path == "/console" || path.hasPrefix("/console/") }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.covers(request.uri.path) else { return try await next(request, context) }
        var response: Response
        do { response = try await next(request, context) } catch let e as HTTPResponseError {
            response = try e.response(from: request, context: context)
        } catch {
            // Whatever a handler threw still leaves with the headers, as a page of words.
            let e = CentralStore.refusal(error) as? CentralError ?? .database("the console failed: \(error)")
            response = Response(status: .init(code: e.httpStatus), headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: e.description + "\n")))
        }
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.strictTransportSecurity] = "max-age=31536000"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        // Not no-referrer: under it a browser sends `Origin: null` with a form's POST, and
        // the origin check (ConsoleRoutes.crossSite) would refuse every real form.
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// One message shown once on the next page an operator sees (after a change's redirect).
struct Notice: Sendable { let text: String; let error: Bool }

actor FlashBox {
    private var notices: [String: Notice] = [:]
    func put(_ n: Notice, for key: String) { notices[key] = n }
    func take(_ key: String) -> Notice? { notices.removeValue(forKey: key) }
}

/// A form's fields, `application/x-www-form-urlencoded`: a POST's body, or a GET form's
/// query (a browser writes a space there as `+`, which a URL's query parameters keep).
struct FormFields {
    /// The query of a GET form (search, filters, explain).
    static func query(_ req: Request) -> FormFields { FormFields(req.uri.query ?? "") }

    var values: [String: String] = [:]
    init(_ text: String) {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            guard let k = parts.first else { continue }
            values[decode(k)] = parts.count > 1 ? decode(parts[1]) : ""
        }
    }
    subscript(_ key: String) -> String? { values[key] }
    func get(_ key: String) -> String? { values[key] }
    /// The field trimmed, nil when absent or empty.
    func text(_ key: String) -> String? {
        guard let v = values[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
        return v
    }
}

/// Dates as the console's forms and pages show them: UTC, read and written as
/// `SiteLocalTime` does in a site's zone.
enum ConsoleTime {
    static let utc = TimeZone(identifier: "UTC")!
    static func day(_ d: Date?) -> String { d.map { SiteLocalTime.formatter("yyyy-MM-dd", utc).string(from: $0) } ?? "" }
    static func minute(_ d: Date?) -> String { d.map { SiteLocalTime.formatter("yyyy-MM-dd HH:mm", utc).string(from: $0) + " UTC" } ?? "" }
    /// A date field (YYYY-MM-DD) or a datetime-local one (YYYY-MM-DDTHH:MM), read as UTC.
    static func parse(_ text: String?, field: String) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        guard let d = SiteLocalTime.parse(text, in: utc) else { throw CentralError.invalid("\(field) '\(text)' is not a date (YYYY-MM-DD, UTC)") }
        return d
    }
    static func validity(from: Date?, until: Date?) -> String {
        switch (from, until) {
        case (nil, nil): "always valid"
        case (let f?, nil): "valid from \(day(f))"
        case (nil, let u?): "valid until \(day(u))"
        case (let f?, let u?): "valid \(day(f)) to \(day(u))"
        }
    }
}
