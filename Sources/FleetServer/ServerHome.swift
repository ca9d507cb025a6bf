import FleetProtocol
import Foundation
import Storage
import Yams

/// The server's directory: its configuration and its secrets, which every instance of a
/// site's server shares (copy the directory to a second host). All other state is in
/// PostgreSQL.
///
///     server.yaml        database URL, listen address, the names the server is reached by
///     ca.key, ca.pem     the site CA (keep ca.key offline-backed-up: it signs controllers)
///     server.key/.pem    the server's TLS certificate, signed by the CA
///     keys/template.key  seals templates at rest in PostgreSQL
public struct ServerHome: Sendable {
    /// The highest revision of the change feed this server handed out (FeedIdentity.swift).
    public var feedWatermarkPath: String { (path as NSString).appendingPathComponent("feed-revision") }
    public let path: String
    public init(path: String) { self.path = path }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public struct Settings: Codable, Sendable, Equatable {
        public var database: String
        public var listen: String
        public var port: Int
        public var names: [String]
        /// The web console (docs/console.md); absent: on, with the default time-outs.
        public var console: ConsoleSettings?
        public init(database: String, listen: String, port: Int, names: [String], console: ConsoleSettings? = nil) {
            self.database = database; self.listen = listen; self.port = port; self.names = names; self.console = console
        }
    }

    /// server.yaml's `console:` section. Every field may be left out.
    public struct ConsoleSettings: Codable, Sendable, Equatable {
        /// false: /console is not served at all (the admin API and the fleet protocol are).
        public var enabled: Bool?
        /// Minutes without a request before a session ends (1 to 1440; default 15).
        public var idleMinutes: Double?
        /// Hours after sign-in when a session ends however busy (1 to 168; default 12).
        public var absoluteHours: Double?
        /// Failed sign-ins from one address within the lock-out window before that address
        /// is refused for every name (5 to 1000; default 20).
        public var failuresPerAddress: Int?
        enum CodingKeys: String, CodingKey {
            case enabled, idleMinutes = "idle_minutes", absoluteHours = "absolute_hours", failuresPerAddress = "failures_per_address"
        }
        public init(enabled: Bool? = nil, idleMinutes: Double? = nil, absoluteHours: Double? = nil, failuresPerAddress: Int? = nil) {
            self.enabled = enabled; self.idleMinutes = idleMinutes; self.absoluteHours = absoluteHours; self.failuresPerAddress = failuresPerAddress
        }

        /// What is out of range, said as the file's own keys.
        public var problems: [String] {
            var out: [String] = []
            if let v = idleMinutes, !(1...1440).contains(v) { out.append("console.idle_minutes must be 1 to 1440 (it is \(v))") }
            if let v = absoluteHours, !(1...168).contains(v) { out.append("console.absolute_hours must be 1 to 168 (it is \(v))") }
            if let i = idleMinutes, let a = absoluteHours, i > a * 60 { out.append("console.idle_minutes is longer than console.absolute_hours") }
            if let v = failuresPerAddress, !(5...1000).contains(v) { out.append("console.failures_per_address must be 5 to 1000 (it is \(v))") }
            return out
        }
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: file("server.yaml")) }

    /// Creates the directory, the CA, the server certificate and the template key. Refuses
    /// to overwrite an existing server's CA: every joined controller trusts it.
    public func initialise(site: String, settings: Settings, now: Date = Date()) throws {
        guard !exists else { throw CentralError.conflict("\(file("server.yaml")) exists: this directory already holds a server (its CA signs the site's controllers)") }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ca = try SiteCA.create(siteName: site, now: now)
        let caPEM = try ca.pem
        let server = try ca.issueServerCertificate(names: settings.names, now: now)
        try write(caPEM.privateKeyPEM, "ca.key", mode: 0o600)
        try write(caPEM.certificatePEM, "ca.pem", mode: 0o644)
        try write(server.privateKeyPEM, "server.key", mode: 0o600)
        try write(server.certificatePEM, "server.pem", mode: 0o644)
        _ = try TemplateKeyFile.loadOrCreate(path: file("keys/template.key"))
        try write(try YAMLEncoder().encode(settings), "server.yaml", mode: 0o600)
    }

    /// Takes back what `initialise` wrote (a set-up that could not finish), and the
    /// directory itself when nothing else is in it.
    public func discard() {
        for name in ["server.yaml", "ca.key", "ca.pem", "server.key", "server.pem", "keys/template.key"] { try? FileManager.default.removeItem(atPath: file(name)) }
        for dir in [file("keys"), path] where (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true {
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    public func settings() throws -> Settings {
        guard exists else { throw CentralError.notFound("\(file("server.yaml")) is missing: set the server up with `warden server init`") }
        do { return try YAMLDecoder().decode(Settings.self, from: try String(contentsOfFile: file("server.yaml"), encoding: .utf8)) } catch {
            throw CentralError.invalid("\(file("server.yaml")): \(error)")
        }
    }

    public func siteCA() throws -> SiteCA {
        try SiteCA(pem: KeyAndCertificate(privateKeyPEM: try read("ca.key"), certificatePEM: try read("ca.pem")))
    }

    public func serverCertificate() throws -> KeyAndCertificate { KeyAndCertificate(privateKeyPEM: try read("server.key"), certificatePEM: try read("server.pem")) }

    public func templateCipher() throws -> TemplateCipher { TemplateCipher(key: try TemplateKeyFile.load(path: file("keys/template.key"))) }

    func read(_ name: String) throws -> String {
        do { return try String(contentsOfFile: file(name), encoding: .utf8) } catch { throw CentralError.notFound("\(file(name)) cannot be read: \(error.localizedDescription)") }
    }

    func write(_ text: String, _ name: String, mode: Int) throws {
        let p = file(name)
        guard FileManager.default.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw CentralError.invalid("cannot write \(p)")
        }
    }
}
