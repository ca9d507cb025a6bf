import Crypto
import FleetProtocol
import Foundation
import WardenCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The request context: the channel, so a handler can read the client certificate that
/// the TLS handshake verified against the site CA.
public struct FleetRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    package let channel: any Channel
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// `warden server`: the fleet protocol and the admin API over HTTPS with mutual TLS.
/// Client certificates are optional at the handshake (a board joining has none yet) but
/// any certificate offered must chain to the site CA, or the handshake fails; every
/// controller path then requires one and looks the controller up by its fingerprint, so a
/// revoked controller is refused on its next request.
public struct FleetHTTPServer: Sendable {
    public let store: CentralStore
    public let ca: SiteCA
    public let serverCertificate: KeyAndCertificate
    public let serverNames: [String]
    public let notifier: ChangeNotifier
    public let logger: Logger
    /// Face models for enrollment at the server; nil: photos cannot be enrolled here.
    public let enrollment: ServerEnrollment?
    /// Routes served beside the fleet's and the admin API's (the web console), on the same
    /// port and TLS.
    public let extensions: [any FleetServerExtension]

    public static let maximumLongPoll: Double = 30
    let shared = SharedChanges()
    let captures = CaptureRelay()
    /// What one connection may hold of the server.
    public let connections: ConnectionLimits
    /// The requests under way (what a stopping server waits for).
    package let ledger = RequestLedger()

    public init(store: CentralStore, ca: SiteCA, serverCertificate: KeyAndCertificate, serverNames: [String], notifier: ChangeNotifier, logger: Logger,
                enrollment: ServerEnrollment? = nil, extensions: [any FleetServerExtension] = [], connections: ConnectionLimits = ConnectionLimits()) {
        self.store = store; self.ca = ca; self.serverCertificate = serverCertificate; self.serverNames = serverNames; self.notifier = notifier; self.logger = logger
        self.enrollment = enrollment
        self.extensions = extensions
        self.connections = connections
    }

    public func tlsConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(serverCertificate.certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(serverCertificate.privateKeyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(try ca.pem.certificatePEM.utf8)))
        tls.certificateVerification = .optionalVerification
        tls.minimumTLSVersion = .tlsv12
        // How long a closing connection waits for the peer's close_notify (NIOSSL's default
        // is 5 s). At a graceful shutdown every connection answered in flight (a board's
        // long poll, a console's stream) held the exit that long: measured 7 s -> 2.4-3 s.
        // The server has sent its whole answer by then; a truncation it could detect only
        // threatens the side still receiving.
        tls.shutdownTimeout = .seconds(1)
        return tls
    }

    public func makeApplication(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let router = Router(context: FleetRequestContext.self)
        // First, so that it runs before any route authenticates: a body larger than its route
        // takes is refused by its declared length, unread.
        router.add(middleware: LedgerMiddleware(ledger: ledger))
        router.add(middleware: BodyLimits())
        routes(router)
        adminRoutes(router)
        cameraEnrollmentRoutes(router)
        for e in extensions { e.install(on: router, server: self) }
        // A connection that says nothing (no TLS hello, no request) is closed after the idle
        // time; a request in progress (a long poll) is not idle. Past the connection cap the
        // server stops accepting until one closes, so it never runs out of file descriptors
        // (systemd's default is 1,024; the unit raises it, and the cap stays below it).
        let http = HTTP1Channel.Configuration(idleTimeout: TimeAmount(connections.idleTimeout))
        return Application(router: router, server: try .tls(.http1(configuration: http), tlsConfiguration: tlsConfiguration()),
                           configuration: .init(address: .hostname(host, port: port), serverName: "warden",
                                                availableConnectionsDelegate: MaximumAvailableConnections(connections.maximumConnections, logger: logger)),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }

    func routes(_ router: Router<FleetRequestContext>) {
        router.get(RouterPath(stringLiteral: FleetPath.caCertificate)) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/x-pem-file"], body: .init(byteBuffer: ByteBuffer(string: try ca.pem.certificatePEM)))
        }
        router.post(RouterPath(stringLiteral: FleetPath.join)) { req, ctx in
            try await reply {
                let r: JoinRequest = try await decode(req)
                do { return try await store.join(r, ca: ca, serverNames: serverNames) } catch let e as CentralError where e.httpStatus == 401 || e.httpStatus == 403 {
                    // A refused join is logged with where it came from (its secret never).
                    try await store.joinRefused(r, source: ctx.channel.remoteAddress?.ipAddress ?? "unknown", reason: e.description)
                    throw e
                }
            }
        }
        router.get(RouterPath(stringLiteral: FleetPath.changes)) { req, ctx in
            try await reply {
                _ = try await controller(ctx)
                let q = req.uri.queryParameters
                let since = try PeerInput.integer(q.get("since"), "since", in: FieldLimits.revision, default: 0)
                let wait = try Self.longPollWait(q.get("wait"))
                let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
                while true {
                    let set = try await shared.changes(since: since) { [store] in try await store.changes(since: $0) }
                    // An empty fleet (nothing since 0) waits like any other: answering at once
                    // would have its boards ask again at once, for ever.
                    // A stopping server answers what it has at once: its graceful shutdown waits
                    // for requests in flight, and every board's poll held it up to 30 s.
                    if !set.items.isEmpty {
                        // A controller revoked while its poll waited gets nothing more: its
                        // certificate is looked up again before any change goes out.
                        _ = try await controller(ctx)
                        return set
                    }
                    if ContinuousClock.now >= deadline || Task.isShuttingDownGracefully { return set }
                    // Woken by a commit anywhere in the fleet, else re-checked every 5 s.
                    await withGracefulShutdownHandler {
                        await notifier.wait(after: set.through, timeout: min(.seconds(5), deadline - ContinuousClock.now))
                    } onGracefulShutdown: { [notifier] in Task { await notifier.wakeAll() } }
                }
            }
        }
        router.post(RouterPath(stringLiteral: FleetPath.applied)) { req, ctx in
            try await reply {
                let c = try await controller(ctx)
                let r: AppliedReport = try await decode(req)
                try await store.applied(c, revision: r.revision)
                return r
            }
        }
        router.post(RouterPath(stringLiteral: FleetPath.events)) { req, ctx in
            try await reply {
                let c = try await controller(ctx)
                let batch: EventBatch = try await decode(req)
                return try await store.ingest(batch, from: c)
            }
        }
        router.post(RouterPath(stringLiteral: FleetPath.heartbeat)) { req, ctx in
            try await reply {
                let c = try await controller(ctx)
                let r: ControllerReport = try await decode(req)
                return try await store.heartbeat(c, r)
            }
        }
    }

    /// The controller whose verified certificate this connection carries.
    func controller(_ ctx: FleetRequestContext) async throws -> ControllerRow {
        guard let cert = try await ctx.channel.nioSSL_peerCertificate().get() else {
            throw CentralError.unauthenticated("this path needs the controller's certificate (join first: `warden fleet join URL --token T`)")
        }
        let fp = Hex.encode(SHA256.hash(data: try cert.toDERBytes()))
        return try await store.controller(certificateFingerprint: fp)
    }

    /// A request's body, decoded and every field checked (`FleetJSON.decodeChecked`), read
    /// only up to what its route takes (`BodyLimits`).
    package func decode<T: Decodable>(_ req: Request) async throws -> T {
        let limit = BodyLimits.limit(for: req.uri.path)
        let body: ByteBuffer
        do { body = try await req.body.collect(upTo: limit) } catch {
            throw CentralError.invalid("the request body is larger than the \(limit) bytes \(req.uri.path) takes")
        }
        do { return try FleetJSON.decodeChecked(T.self, from: Data(buffer: body)) } catch {
            throw CentralError.invalid("the request body is not a valid \(T.self): \(error)")
        }
    }

    /// A text query parameter, checked as every peer's text is (length, U+0000, controls).
    package static func text(_ req: Request, _ key: String, maxBytes: Int = FieldLimits.name * 4) throws -> String? {
        let value: String? = req.uri.queryParameters.get(key).map { String($0) }
        try PeerInput.check(value, key, maxBytes: maxBytes)
        return value
    }

    /// `?wait=` of a long poll: 0 to `maximumLongPoll` seconds.
    package static func longPollWait(_ text: String?) throws -> Double {
        try PeerInput.seconds(text, "wait", in: 0...maximumLongPoll, default: 0)
    }

    /// The longest a request may take, long poll included: past it the request is
    /// answered 503 and the caller retries.
    static let requestDeadline: Duration = .seconds(60)

    /// The handler's result as JSON, or its error as an `ErrorReply` with its status.
    /// Bounded by `requestDeadline`: a database request that never comes back (seen after
    /// a PostgreSQL crash: a pool lease asked for while the server was down stayed waiting
    /// after it was back) must not hold a board's request, its connection and the server's
    /// shutdown for ever.
    package func reply<T: Encodable & Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> Response {
        do {
            let data = try FleetJSON.encoder().encode(try await Deadline.run(Self.requestDeadline, body))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch let gap as UploadGap {
            return errorResponse(409, ErrorReply(error: gap.message, highWater: gap.highWater))
        } catch {
            // Every error in one mapping (the store's refusals, a field out of range, what
            // PostgreSQL cannot store): a caller's mistake is a 400 in words, never a 500.
            guard let e = CentralStore.refusal(error) as? CentralError else {
                logger.error("request failed: \(String(reflecting: error))")
                return errorResponse(500, ErrorReply(error: "the server failed: \(error)"))
            }
            if e.httpStatus >= 500 { logger.error("\(e)") }
            return errorResponse(e.httpStatus, ErrorReply(error: e.description))
        }
    }

    package func errorResponse(_ status: Int, _ body: ErrorReply) -> Response {
        let data = (try? FleetJSON.encoder().encode(body)) ?? Data()
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// How many connections the server holds at once, and how long one may say nothing.
public struct ConnectionLimits: Sendable, Equatable {
    public var idleTimeout: Duration
    public var maximumConnections: Int
    public init(idleTimeout: Duration = .seconds(20), maximumConnections: Int = 900) {
        self.idleTimeout = idleTimeout; self.maximumConnections = maximumConnections
    }
}

/// The largest body each route takes, checked by its declared length before any handler
/// (and so before authentication) and again as it is read. Unauthenticated joins take a
/// CSR; uploads and photos are the large ones.
struct BodyLimits: RouterMiddleware {
    typealias Context = FleetRequestContext
    static let small = 64 << 10
    static let table: [String: Int] = [
        FleetPath.join: 64 << 10, FleetPath.applied: 4 << 10, FleetPath.heartbeat: 256 << 10, FleetPath.events: 48 << 20,
        FleetPath.captureProgress: 16 << 10, FleetPath.captureResult: 2 << 20,
        AdminPath.enroll: 40 << 20, AdminPath.policy: 4 << 20, AdminPath.thresholds: 2 << 20,
    ]
    /// The console's forms take up to 1 MiB, its photo upload more (its own limits apply).
    static func limit(for path: String) -> Int {
        table[path] ?? (path.hasPrefix("/console") ? 48 << 20 : small)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let text = request.headers[.contentLength], let declared = Int(text), declared > Self.limit(for: request.uri.path) {
            let body = (try? FleetJSON.encoder().encode(ErrorReply(error: "the request body (\(declared) bytes) is larger than the \(Self.limit(for: request.uri.path)) bytes \(request.uri.path) takes"))) ?? Data()
            return Response(status: .contentTooLarge, headers: [.contentType: "application/json", .connection: "close"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        return try await next(request, context)
    }
}

/// Routes that another module serves from the fleet server (the web console): installed
/// on the server's router when the application is made.
public protocol FleetServerExtension: Sendable {
    func install(on router: Router<FleetRequestContext>, server: FleetHTTPServer)
}

/// Runs work with a time limit, and returns at the limit even when the work does not
/// notice its cancellation: the work is left to finish (or not) on its own.
enum Deadline {
    static func run<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let once = ResumeOnce<T>()
        let work = Task { do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) } }
        let timer = Task {
            try? await Task.sleep(for: limit)
            if !Task.isCancelled, once.resume(.failure(CentralError.database("the central database did not answer within \(limit); try again"))) { work.cancel() }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { once.set($0) }
        } onCancel: { work.cancel() }
    }
}

/// A continuation resumed by whichever comes first, the result or the time limit; it may be
/// resumed before it is even set.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?
    private var result: Result<T, Error>?
    private var done = false

    func set(_ c: CheckedContinuation<T, Error>) {
        let ready: Result<T, Error>? = lock.withLock {
            if let r = result { result = nil; return r }
            continuation = c
            return nil
        }
        if let ready { c.resume(with: ready) }
    }

    /// True when this resumed it (the first to come).
    @discardableResult
    func resume(_ r: Result<T, Error>) -> Bool {
        let c: CheckedContinuation<T, Error>?? = lock.withLock {
            guard !done else { return .none }
            done = true
            if let c = continuation { continuation = nil; return .some(c) }
            result = r
            return .some(nil)
        }
        guard case .some(let waiting) = c else { return false }
        waiting?.resume(with: r)
        return true
    }
}
