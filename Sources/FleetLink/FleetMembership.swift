import FleetProtocol
import Foundation
import Yams

/// A controller's membership of a fleet, in `<home>/fleet/`:
///
///     fleet.yaml        the server's URL and this controller's name
///     controller.key    its private key (never leaves the board)
///     controller.pem    its certificate, signed by the site CA
///     ca.pem            the site CA: the only root it trusts
///     policy/           the policy files in force, as the server last sent them
///     acknowledged      the server's last high-water mark heard: rows up to it may be pruned
public struct FleetMembership: Sendable, Equatable {
    public struct Settings: Codable, Sendable, Equatable {
        public var server: String
        public var controller: String
        public var joinedAt: Date
        /// The most rows the board holds for the server before `fleet.buffer_full`
        /// (default `FleetBuffer.defaultCeiling`); the disk's free space may make it less.
        public var bufferEvents: Int64?
    }

    public let directory: String
    public let settings: Settings
    public let identity: KeyAndCertificate
    public let caPEM: String

    public static func directory(home: String) -> String { (home as NSString).appendingPathComponent("fleet") }

    public var policyDirectory: String { (directory as NSString).appendingPathComponent("policy") }

    var acknowledgedPath: String { (directory as NSString).appendingPathComponent("acknowledged") }

    /// The server's high-water mark as last heard (0 when never): every local row up to it
    /// is stored centrally. It only ever lags the server's, so it is safe to prune by.
    public func acknowledgedSeq() -> Int64 {
        guard let text = try? String(contentsOfFile: acknowledgedPath, encoding: .utf8) else { return 0 }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Written beside and renamed: a crash leaves the old mark or the new one, never half.
    func recordAcknowledged(_ seq: Int64) throws {
        try ConfigurationFiles.replaceFile(acknowledgedPath, with: "\(seq)\n")
    }

    /// The membership of the controller at `home`, or nil when it has not joined a fleet.
    public static func load(home: String) throws(FleetLinkError) -> FleetMembership? {
        let dir = directory(home: home)
        func path(_ n: String) -> String { (dir as NSString).appendingPathComponent(n) }
        guard FileManager.default.fileExists(atPath: path("fleet.yaml")) else { return nil }
        do {
            let settings = try YAMLDecoder().decode(Settings.self, from: try String(contentsOfFile: path("fleet.yaml"), encoding: .utf8))
            let identity = KeyAndCertificate(privateKeyPEM: try String(contentsOfFile: path("controller.key"), encoding: .utf8),
                                             certificatePEM: try String(contentsOfFile: path("controller.pem"), encoding: .utf8))
            return FleetMembership(directory: dir, settings: settings, identity: identity, caPEM: try String(contentsOfFile: path("ca.pem"), encoding: .utf8))
        } catch {
            throw .invalid("this controller's fleet membership in \(dir) cannot be read (\(error)); restore it from a backup or join again")
        }
    }

    public func transport() throws(FleetLinkError) -> HTTPSFleetTransport {
        try HTTPSFleetTransport(server: settings.server, identity: identity, trustedCA: caPEM)
    }

    /// Joins: fetches the CA and checks it against the token's fingerprint, sends a
    /// signing request for a key made here, and stores what comes back.
    public static func join(server: String, token text: String, home: String, wardenVersion: String) async throws(FleetLinkError) -> FleetMembership {
        let token: JoinToken
        do { token = try JoinToken(parsing: text) } catch { throw .invalid("\(error)") }
        let dir = directory(home: home)
        if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("fleet.yaml")) {
            throw .invalid("this controller already belongs to a fleet (\(dir)); `warden fleet leave` first")
        }
        // 1. The CA, over an unverified connection, trusted only if its fingerprint matches.
        let anonymous = try HTTPSFleetTransport(server: server, identity: nil, trustedCA: nil)
        let caPEM: String
        do {
            caPEM = String(decoding: try await anonymous.get(FleetPath.caCertificate, query: [:], timeout: .seconds(10)), as: UTF8.self)
            await anonymous.shutdown()
        } catch { await anonymous.shutdown(); throw error }
        let fingerprint: String
        do { fingerprint = try SiteCA.fingerprint(pem: caPEM) } catch { throw .invalid("the server's CA certificate cannot be read: \(error)") }
        guard fingerprint == token.caFingerprint else {
            throw .invalid("the server at \(server) presents a CA with fingerprint \(fingerprint.prefix(16))..., but the token was made for \(token.caFingerprint.prefix(16))...: "
                           + "not this site's server, or someone in between. Nothing was sent.")
        }
        // 2. The request, over TLS verified against that CA.
        let name = "pending"
        let key: (privateKeyPEM: String, csrPEM: String)
        do { key = try ControllerKey.makeRequest(name: name) } catch { throw .invalid("cannot make the controller's key: \(error)") }
        let pinned = try HTTPSFleetTransport(server: server, identity: nil, trustedCA: caPEM)
        let reply: JoinReply
        do {
            reply = try await pinned.postJSON(JoinReply.self, FleetPath.join, JoinRequest(token: token.description, certificateSigningRequest: key.csrPEM, wardenVersion: wardenVersion))
            await pinned.shutdown()
        } catch { await pinned.shutdown(); throw error }
        // 3. Stored owner-only; fleet.yaml last, so a half-written membership is no membership.
        let settings = Settings(server: server, controller: reply.controller, joinedAt: Date())
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            func write(_ text: String, _ n: String, _ mode: Int) throws {
                let p = (dir as NSString).appendingPathComponent(n)
                guard FileManager.default.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else { throw FleetLinkError.invalid("cannot write \(p)") }
            }
            try write(key.privateKeyPEM, "controller.key", 0o600)
            try write(reply.certificate, "controller.pem", 0o644)
            try write(reply.caCertificate, "ca.pem", 0o644)
            try write(try YAMLEncoder().encode(settings), "fleet.yaml", 0o600)
        } catch let e as FleetLinkError { throw e } catch { throw .invalid("cannot store the membership in \(dir): \(error)") }
        return FleetMembership(directory: dir, settings: settings, identity: KeyAndCertificate(privateKeyPEM: key.privateKeyPEM, certificatePEM: reply.certificate), caPEM: reply.caCertificate)
    }
}
