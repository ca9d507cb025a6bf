import FleetProtocol
import FleetServer
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore

/// The console's handlers: the session and permission checks every page shares, then one
/// file per page (board, people, access, audit and controllers).
struct ConsoleRoutes: Sendable {
    let console: WebConsole
    let server: FleetHTTPServer
    var store: CentralStore { server.store }
    var now: Date { console.clock() }

    func install(_ group: RouterGroup<FleetRequestContext>) {
        group.get("static/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        group.get("static/console.js") { _, _ in Self.asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        group.get("login") { req, ctx in
            if let s = try await session(req) { _ = s; return Self.redirect("/console") }
            return render("login", [:], session: nil, title: "Sign in")
        }
        group.post("login") { req, ctx in try await login(req, ctx) }
        group.post("logout") { req, ctx in
            try await change(req, ctx, .read, back: "/console/login") { s, _ in
                try await store.consoleLogout(s, source: Self.source(ctx), now: now)
                return ("/console/login", nil)
            }
        }
        installBoard(group)
        installPeople(group)
        installAccess(group)
        installAudit(group)
        installControllers(group)
    }

    // MARK: sessions

    static func source(_ ctx: FleetRequestContext) -> String { ctx.channel.remoteAddress?.ipAddress ?? "unknown" }

    func session(_ req: Request, touch: Bool = true) async throws -> ConsoleSession? {
        guard let cookie = req.cookies[WebConsole.cookieName]?.value, cookie.count == 64, cookie.allSatisfy(\.isHexDigit) else { return nil }
        return try await store.consoleSession(cookie: cookie, limits: console.limits, touch: touch, now: now)
    }

    func login(_ req: Request, _ ctx: FleetRequestContext) async throws -> Response {
        if let refused = Self.crossSite(req) { return refused }
        let form = FormFields(String(buffer: try await req.body.collect(upTo: WebConsole.maximumForm)))
        let name = form.text("name") ?? ""
        do {
            let login = try await store.consoleLogin(name: name, password: form["password"] ?? "", code: form.text("code"), source: Self.source(ctx),
                                                     limits: console.limits, now: now)
            var r = Self.redirect("/console")
            r.setCookie(Cookie(name: WebConsole.cookieName, value: login.cookie, path: "/", secure: true, httpOnly: true, sameSite: .strict))
            return r
        } catch let e as CentralError {
            return render("login", ["name": name], session: nil, title: "Sign in", notice: Notice(text: e.description, error: true), status: .init(code: e.httpStatus))
        }
    }

    /// A page for an operator whose role allows `action`: else the sign-in page, or a refusal.
    func page(_ req: Request, _ action: OperatorRole.Action, _ body: (ConsoleSession) async throws -> Response) async throws -> Response {
        guard let s = try await session(req) else { return Self.redirect("/console/login") }
        guard s.op.role.may(action) else { return forbidden(s) }
        do { return try await body(s) } catch let e as CentralError {
            return render("error", ["heading": "Not possible", "message": e.description], session: s, title: "Error", status: .init(code: e.httpStatus))
        }
    }

    /// A change from a form: the session, the role, the CSRF token and the origin checked
    /// first; then `body`, which answers where to go next and what to tell the operator.
    /// A refusal of the store's goes back to `back` with its message.
    func change(_ req: Request, _ ctx: FleetRequestContext, _ action: OperatorRole.Action, back: String,
                _ body: (ConsoleSession, FormFields) async throws -> (String, String?)) async throws -> Response {
        if let refused = Self.crossSite(req) { return refused }
        guard let s = try await session(req) else { return Self.redirect("/console/login") }
        let form = FormFields(String(buffer: try await req.body.collect(upTo: WebConsole.maximumForm)))
        guard ConstantTime.equal(form["csrf"] ?? "", s.csrfToken) else { return csrfRefused(s) }
        guard s.op.role.may(action) else { return forbidden(s) }
        do {
            let (next, message) = try await body(s, form)
            if let message { await console.flashes.put(Notice(text: message, error: false), for: s.key) }
            return Self.redirect(next)
        } catch let e as CentralError {
            await console.flashes.put(Notice(text: e.description, error: true), for: s.key)
            return Self.redirect(back)
        }
    }

    func forbidden(_ s: ConsoleSession) -> Response {
        render("error", ["heading": "Not allowed", "message": "Operator '\(s.op.name)' is \(s.op.role.rawValue) and may not do this."], session: s, title: "Not allowed", status: .forbidden)
    }

    func csrfRefused(_ s: ConsoleSession?) -> Response {
        render("error", ["heading": "Refused", "message": "This form had no valid security token (it may be from an old page, or from another site). Reload the page and try again."],
               session: s, title: "Refused", status: .forbidden)
    }

    /// A change sent from another site: refused by its Origin (browsers send it with every
    /// POST) or by Sec-Fetch-Site, before the session is even read.
    static func crossSite(_ req: Request) -> Response? {
        let host = req.head.authority ?? ""
        if let origin = req.headers[.origin], origin != "https://\(host)" {
            return Response(status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "cross-origin request refused\n")))
        }
        if let site = req.headers[HTTPField.Name("Sec-Fetch-Site")!], site == "cross-site" {
            return Response(status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "cross-site request refused\n")))
        }
        return nil
    }

    // MARK: rendering

    func render(_ template: String, _ values: [String: Any], session s: ConsoleSession?, title: String, notice: Notice? = nil, status: HTTPResponse.Status = .ok) -> Response {
        var context = values
        context["title"] = title
        context["page"] = template
        if let s {
            context["signedIn"] = true
            context["operator"] = s.op.name
            context["role"] = s.op.role.rawValue
            context["csrf"] = s.csrfToken
            context["canEnroll"] = s.op.role.may(.enroll)
            context["canGrant"] = s.op.role.may(.grant)
            context["canManage"] = s.op.role.may(.manageFleet)
        }
        if let notice { context["notice"] = ["text": notice.text, "kind": notice.error ? "error" : "ok"] }
        let html = console.library.render(Self.withoutEmptyText(context), withTemplate: template) ?? "<!doctype html><p>console template \(template) is missing</p>"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The values with every empty string left out, at any depth: Mustache counts "" as
    /// true in a section, so `{{#parent}} (in {{parent}}){{/parent}}` showed "(in )" for a
    /// zone without one. Absent, an empty field is false in a section and prints nothing.
    static func withoutEmptyText(_ values: [String: Any]) -> [String: Any] {
        func clean(_ v: Any) -> Any? {
            switch v {
            case let s as String: return s.isEmpty ? nil : s
            case let d as [String: Any]: return withoutEmptyText(d)
            case let a as [[String: Any]]: return a.map(withoutEmptyText)
            case let a as [Any]: return a.compactMap(clean)
            default: return v
            }
        }
        return values.compactMapValues(clean)
    }

    /// Renders with the notice a change left for this session, if any.
    func show(_ template: String, _ values: [String: Any], session s: ConsoleSession, title: String) async -> Response {
        let notice = await console.flashes.take(s.key)
        return render(template, values, session: s, title: title, notice: notice)
    }

    static func redirect(_ to: String) -> Response { Response(status: .seeOther, headers: [.location: to]) }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? FleetJSON.encoder().encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
