import Audit
import FleetProtocol
import Foundation
import PostgresNIO
import WardenCore

/// A controller as the server knows it.
public struct ControllerRow: Codable, Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var status: String
    public var joinedAt: Date?
    public var revokedAt: Date?
    public var lastSeen: Date?
    public var wardenVersion: String?
    public var appliedRevision: Int64
    public var clockSkewSeconds: Double?
    public var bufferedEvents: Int64
    public var doors: [FleetDoorReport]
    /// The last row of its log stored centrally.
    public var highWater: Int64
}

extension CentralStore {
    public static let defaultTokenLifetime: TimeInterval = 3600

    /// A one-time token for a controller to join as `name`. Only its hash is stored.
    public func createJoinToken(controller name: String, lifetime: TimeInterval = defaultTokenLifetime, caFingerprint: String,
                                by op: Operator, now: Date = Date()) async throws -> (JoinToken, expires: Date) {
        if let p = ControllerName.problem(name) { throw CentralError.invalid(p) }
        guard lifetime > 0, lifetime <= 7 * 86_400 else { throw CentralError.invalid("a join token lives between 1 s and 7 days") }
        let token = JoinToken.generate(caFingerprint: caFingerprint)
        let expires = now.addingTimeInterval(lifetime)
        try await transaction { conn in
            if let status = try await self.one(conn.query("SELECT status FROM controller WHERE name = \(name)", logger: self.logger), String.self), status == "revoked" {
                throw CentralError.conflict("controller '\(name)' was revoked; a revoked name is never reused (join the board under a new name)")
            }
            try await conn.query("""
                INSERT INTO join_token (id, secret_hash, controller_name, created_by, created_at, expires_at)
                VALUES (\(token.id), \(token.secretHash), \(name), \(op.name), \(now), \(expires))
                """, logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.fleet_token_create", operator: op.name, subject: "controller:\(name)",
                                                                detail: ["token_id": token.id, "expires": AuditTime.utc(expires)], at: now)], conn)
        }
        return (token, expires)
    }

    /// Redeems a token: once, before it expires, for the name it was made for. Signs the
    /// controller's key and records its certificate's fingerprint, by which every later
    /// request is recognised.
    public func join(_ request: JoinRequest, ca: SiteCA, serverNames: [String], now: Date = Date()) async throws -> JoinReply {
        let token: JoinToken
        do { token = try JoinToken(parsing: request.token) } catch { throw CentralError.unauthenticated("\(error)") }
        let caFingerprint = try ca.fingerprint
        guard token.caFingerprint == caFingerprint else {
            throw CentralError.unauthenticated("this token was made for another site CA (fingerprint \(token.caFingerprint.prefix(16))..., this server's is \(caFingerprint.prefix(16))...)")
        }
        return try await transaction { conn in
            guard let (hash, name, expires, used) = try await self.one(conn.query(
                "SELECT secret_hash, controller_name, expires_at, used_at FROM join_token WHERE id = \(token.id) FOR UPDATE", logger: self.logger),
                (String, String, Date, Date?).self), hash == token.secretHash else {
                throw CentralError.unauthenticated("unknown join token (make one with `warden server token create --controller NAME`)")
            }
            if let used { throw CentralError.unauthenticated("this join token was already used at \(AuditTime.utc(used)); a token works once (make a new one)") }
            guard expires > now else { throw CentralError.unauthenticated("this join token expired at \(AuditTime.utc(expires)) (make a new one)") }
            let certificate = try ca.signController(csrPEM: request.certificateSigningRequest, name: name, now: now)
            let fingerprint = try SiteCA.fingerprint(pem: certificate)
            if let status = try await self.one(conn.query("SELECT status FROM controller WHERE name = \(name) FOR UPDATE", logger: self.logger), String.self) {
                guard status == "active" else { throw CentralError.forbidden("controller '\(name)' was revoked; it cannot join again under that name") }
                // A board re-joined (new disk, new key): the old certificate stops working now.
                try await conn.query("UPDATE controller SET cert_fingerprint = \(fingerprint), joined_at = \(now), warden_version = \(request.wardenVersion) WHERE name = \(name)", logger: self.logger)
            } else {
                try await conn.query("""
                    INSERT INTO controller (name, status, cert_fingerprint, joined_at, warden_version)
                    VALUES (\(name), 'active', \(fingerprint), \(now), \(request.wardenVersion))
                    """, logger: self.logger)
            }
            try await conn.query("UPDATE join_token SET used_at = \(now) WHERE id = \(token.id)", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.fleet_join", operator: "controller:\(name)", subject: "controller:\(name)",
                                                                detail: ["token_id": token.id, "certificate_sha256": fingerprint, "warden_version": request.wardenVersion], at: now)], conn)
            return JoinReply(controller: name, certificate: certificate, caCertificate: try ca.pem.certificatePEM, serverNames: serverNames)
        }
    }

    /// A join refused for its token: chained into the server's log with the token's id (never
    /// its secret), the address and the reason.
    package func joinRefused(_ request: JoinRequest, source: String, reason: String, now: Date = Date()) async throws {
        let id = (try? JoinToken(parsing: request.token))?.id ?? "(not a join token, \(request.token.utf8.count) bytes)"
        try await transaction { conn in
            try await self.appendServerEvents([AuditEvent.admin("admin.fleet_join_failed", operator: "@join", subject: "join-token:\(id)",
                                                                detail: ["source": String(source.prefix(64)), "reason": String(reason.prefix(200))], at: now)], conn)
        }
    }

    /// The active controller whose certificate this is; refused when it was revoked or
    /// replaced by a re-join.
    public func controller(certificateFingerprint fp: String) async throws -> ControllerRow {
        guard let row = try await controllers(where: "cert_fingerprint", equals: fp).first else {
            throw CentralError.forbidden("this certificate belongs to no controller of this site (revoked, or replaced by a new join)")
        }
        guard row.status == "active" else { throw CentralError.forbidden("controller '\(row.name)' was revoked") }
        return row
    }

    public func controllers() async throws -> [ControllerRow] { try await controllers(where: nil, equals: nil) }

    func controllers(where column: String?, equals value: String?) async throws -> [ControllerRow] {
        var q: PostgresQuery = """
            SELECT id, name, status, joined_at, revoked_at, last_seen, warden_version, applied_revision,
                   clock_skew_seconds, buffered_events, doors, high_water FROM controller WHERE id <> 0
            """
        if let column, let value {
            q = column == "name"
                ? "SELECT id, name, status, joined_at, revoked_at, last_seen, warden_version, applied_revision, clock_skew_seconds, buffered_events, doors, high_water FROM controller WHERE id <> 0 AND name = \(value)"
                : "SELECT id, name, status, joined_at, revoked_at, last_seen, warden_version, applied_revision, clock_skew_seconds, buffered_events, doors, high_water FROM controller WHERE id <> 0 AND cert_fingerprint = \(value)"
        }
        var out: [ControllerRow] = []
        let rows = try await client.query(q, logger: logger)
        for try await (id, name, status, joined, revoked, seen, version, applied, skew, buffered, doors, hw) in rows.decode(
            (Int64, String, String, Date?, Date?, Date?, String?, Int64, Double?, Int64, String, Int64).self) {
            let d = (try? FleetJSON.decoder().decode([FleetDoorReport].self, from: Data(doors.utf8))) ?? []
            out.append(ControllerRow(id: id, name: name, status: status, joinedAt: joined, revokedAt: revoked, lastSeen: seen, wardenVersion: version,
                                     appliedRevision: applied, clockSkewSeconds: skew, bufferedEvents: buffered, doors: d, highWater: hw))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Revokes a controller: its certificate is refused from the next request on, and its
    /// name is never reused. Its events stay in the central log.
    public func revokeController(_ name: String, by op: Operator, now: Date = Date()) async throws {
        try await transaction { conn in
            guard let status = try await self.one(conn.query("SELECT status FROM controller WHERE name = \(name) AND id <> 0 FOR UPDATE", logger: self.logger), String.self) else {
                throw CentralError.notFound("no controller '\(name)' (`warden fleet status` lists them)")
            }
            guard status == "active" else { throw CentralError.conflict("controller '\(name)' is already revoked") }
            try await conn.query("UPDATE controller SET status = 'revoked', revoked_at = \(now) WHERE name = \(name)", logger: self.logger)
            try await conn.query("UPDATE join_token SET used_at = \(now) WHERE controller_name = \(name) AND used_at IS NULL", logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.fleet_revoke", operator: op.name, subject: "controller:\(name)", at: now)], conn)
        }
    }

    /// Records what a controller said of itself; answers with the server's clock, the
    /// current revision and the controller's high-water mark.
    /// A door another controller runs is left out of what this one is recorded to report.
    public func heartbeat(_ controller: ControllerRow, _ report: ControllerReport, now: Date = Date()) async throws -> HeartbeatReply {
        let claimed = report.doors.map(\.id)
        var owned = Set<String>()
        if !claimed.isEmpty {
            // One statement: doors nobody owned yet become this controller's, and the ones it
            // owns come back (the statement's snapshot does not see its own inserts, hence the union).
            let rows = try await client.query("""
                WITH pinned AS (
                    INSERT INTO door_owner (door, controller_id, since) SELECT d, \(controller.id), \(now) FROM unnest(\(claimed)::text[]) AS u(d)
                    ON CONFLICT (door) DO NOTHING RETURNING door)
                SELECT door FROM pinned UNION SELECT door FROM door_owner WHERE door = ANY(\(claimed)) AND controller_id = \(controller.id)
                """, logger: logger)
            for try await d in rows.decode(String.self) { owned.insert(d) }
        }
        let refused = claimed.filter { !owned.contains($0) }
        if !refused.isEmpty {
            logger.warning("controller '\(controller.name)' reports door(s) another controller runs: \(refused.map { DisplayText.escapingControls($0) }.joined(separator: ", ")); not recorded (`warden-server door move DOOR --to \(controller.name)` if it really moved)")
        }
        let doors = String(decoding: try FleetJSON.encoder().encode(report.doors.filter { owned.contains($0.id) }), as: UTF8.self)
        try await client.query("""
            UPDATE controller SET last_seen = \(now), warden_version = \(report.wardenVersion), applied_revision = \(report.appliedRevision),
                   clock_skew_seconds = \(report.clockSkewSeconds), buffered_events = \(report.bufferedEvents), doors = \(doors)
            WHERE id = \(controller.id)
            """, logger: logger)
        return HeartbeatReply(serverTime: now, currentRevision: try await currentRevision(), highWater: controller.highWater)
    }

    /// The controller that runs `door`, as pinned at its first report (or moved since).
    public func doorOwner(_ door: String) async throws -> String? {
        try await one(client.query("SELECT c.name FROM door_owner d JOIN controller c ON c.id = d.controller_id WHERE d.door = \(door)", logger: logger), String.self)
    }

    /// Moves a door to another controller (a board replaced, a door rewired): the only way
    /// a door changes hands. Audited.
    public func moveDoor(_ door: String, to name: String, by op: Operator, now: Date = Date()) async throws {
        try await transaction { conn in
            guard let (id, status) = try await self.one(conn.query("SELECT id, status FROM controller WHERE name = \(name) AND id <> 0", logger: self.logger), (Int64, String).self) else {
                throw CentralError.notFound("no controller '\(name)' (`warden-server status` lists them)")
            }
            guard status == "active" else { throw CentralError.conflict("controller '\(name)' is revoked") }
            let from = try await self.one(conn.query("""
                SELECT c.name FROM door_owner d JOIN controller c ON c.id = d.controller_id WHERE d.door = \(door) FOR UPDATE OF d
                """, logger: self.logger), String.self)
            try await conn.query("""
                INSERT INTO door_owner (door, controller_id, since) VALUES (\(door), \(id), \(now))
                ON CONFLICT (door) DO UPDATE SET controller_id = EXCLUDED.controller_id, since = EXCLUDED.since
                """, logger: self.logger)
            try await self.appendServerEvents([AuditEvent.admin("admin.door_move", operator: op.name, subject: "door:\(door)",
                                                                detail: ["from": from ?? "", "to": name], at: now)], conn)
        }
    }

    public func applied(_ controller: ControllerRow, revision: Int64, now: Date = Date()) async throws {
        try await client.query("UPDATE controller SET applied_revision = \(revision), last_seen = \(now) WHERE id = \(controller.id)", logger: logger)
    }
}
