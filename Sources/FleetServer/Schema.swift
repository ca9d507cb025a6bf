import Logging
import PostgresNIO

/// Every schema change of the central database, in order, in one place (as the identity
/// database's `WardenMigrations`). Never edit a shipped migration; add one.
///
/// Each replicated table carries the revision of its row's latest change; a deleted row
/// leaves a tombstone with its revision. "What changed since R" is then every row and
/// tombstone above R: the feed is compacted by construction (an entity changed ten times
/// is sent once, as it is now).
enum CentralSchema {
    static let migrations: [(id: String, sql: [String])] = [
        ("v1-central", [
            """
            CREATE TABLE feed_state (id int PRIMARY KEY CHECK (id = 1), current_revision bigint NOT NULL)
            """,
            "INSERT INTO feed_state VALUES (1, 0)",
            """
            CREATE TABLE person (
                id bigserial PRIMARY KEY, display_name text NOT NULL, external_id text UNIQUE,
                status text NOT NULL CHECK (status IN ('active','suspended')),
                valid_from timestamptz, valid_until timestamptz,
                created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, revision bigint NOT NULL)
            """,
            "CREATE INDEX person_revision ON person(revision)",
            """
            CREATE TABLE person_group (
                id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL, revision bigint NOT NULL)
            """,
            "CREATE INDEX person_group_revision ON person_group(revision)",
            """
            CREATE TABLE group_membership (
                group_id bigint NOT NULL REFERENCES person_group ON DELETE CASCADE,
                person_id bigint NOT NULL REFERENCES person ON DELETE CASCADE, PRIMARY KEY (group_id, person_id))
            """,
            """
            CREATE TABLE badge (
                id bigserial PRIMARY KEY, person_id bigint NOT NULL REFERENCES person ON DELETE CASCADE,
                format text NOT NULL, facility_code int NOT NULL, card_number bigint NOT NULL,
                status text NOT NULL CHECK (status IN ('active','revoked')),
                issued_at timestamptz NOT NULL, revoked_at timestamptz, revision bigint NOT NULL)
            """,
            "CREATE UNIQUE INDEX badge_active_credential ON badge(format, facility_code, card_number) WHERE status = 'active'",
            "CREATE INDEX badge_revision ON badge(revision)",
            // Templates sealed under the server's template key (AES-GCM, bound to the person
            // and model, as on a board); never photos.
            """
            CREATE TABLE face_template (
                id bigserial PRIMARY KEY, person_id bigint NOT NULL REFERENCES person ON DELETE CASCADE,
                sealed bytea NOT NULL, model_id text NOT NULL,
                inter_eye_distance double precision NOT NULL, sharpness double precision NOT NULL,
                yaw double precision NOT NULL, roll double precision NOT NULL, detection_score double precision NOT NULL,
                source_sha256 text NOT NULL, source_name text NOT NULL, created_by text NOT NULL,
                created_at timestamptz NOT NULL, revision bigint NOT NULL)
            """,
            "CREATE INDEX face_template_revision ON face_template(revision)",
            """
            CREATE TABLE access_grant (
                id bigserial PRIMARY KEY, person_id bigint REFERENCES person ON DELETE CASCADE, group_name text,
                zone text NOT NULL, schedule text, until timestamptz, created_by text NOT NULL,
                created_at timestamptz NOT NULL, revision bigint NOT NULL,
                CHECK ((person_id IS NULL) <> (group_name IS NULL)))
            """,
            "CREATE INDEX access_grant_revision ON access_grant(revision)",
            // The policy and the thresholds, versioned: every version kept, the newest in force.
            """
            CREATE TABLE configuration_version (
                kind text NOT NULL CHECK (kind IN ('policy','thresholds')), version bigserial,
                files text NOT NULL, created_by text NOT NULL, created_at timestamptz NOT NULL, revision bigint NOT NULL,
                PRIMARY KEY (kind, version))
            """,
            """
            CREATE TABLE tombstone (kind text NOT NULL, entity_id bigint NOT NULL, revision bigint NOT NULL, PRIMARY KEY (kind, entity_id))
            """,
            "CREATE INDEX tombstone_revision ON tombstone(revision)",
            // Controllers. Row 0 is the server itself: its own admin events form a chain of
            // their own in the central log, beside each controller's.
            """
            CREATE TABLE controller (
                id bigserial PRIMARY KEY, name text NOT NULL UNIQUE,
                status text NOT NULL CHECK (status IN ('active','revoked','server')),
                cert_fingerprint text UNIQUE, joined_at timestamptz, revoked_at timestamptz,
                last_seen timestamptz, warden_version text, applied_revision bigint NOT NULL DEFAULT 0,
                clock_skew_seconds double precision, buffered_events bigint NOT NULL DEFAULT 0, doors text NOT NULL DEFAULT '[]',
                high_water bigint NOT NULL DEFAULT 0, last_hash text)
            """,
            "INSERT INTO controller (id, name, status) VALUES (0, '@server', 'server')",
            """
            CREATE TABLE join_token (
                id text PRIMARY KEY, secret_hash text NOT NULL, controller_name text NOT NULL,
                created_by text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, used_at timestamptz)
            """,
            // The central audit store: every controller's rows exactly as its chain holds them.
            """
            CREATE TABLE event (
                controller_id bigint NOT NULL REFERENCES controller, seq bigint NOT NULL,
                at timestamptz NOT NULL, type text NOT NULL, door text, person_id bigint, result text,
                payload text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL, received_at timestamptz NOT NULL,
                PRIMARY KEY (controller_id, seq))
            """,
            "CREATE INDEX event_at ON event(at)",
            """
            CREATE TABLE operator (
                name text PRIMARY KEY, role text NOT NULL CHECK (role IN ('admin','enroller','auditor')),
                token_hash text NOT NULL, created_by text NOT NULL, created_at timestamptz NOT NULL, disabled_at timestamptz)
            """,
            "CREATE TABLE login_failure (at timestamptz NOT NULL, operator text NOT NULL, source text NOT NULL)",
            "CREATE INDEX login_failure_operator ON login_failure(operator, at)",
        ]),
        // The web console: operators' passwords (bcrypt) and optional TOTP secrets; sessions
        // by the SHA-256 of their cookie; the order events arrived in, which the live board
        // follows (a controller's seq orders its own rows only); acknowledged alarms.
        ("v2-console", [
            "ALTER TABLE operator ADD COLUMN password_hash text, ADD COLUMN totp_secret text",
            """
            CREATE TABLE console_session (
                token_sha256 text PRIMARY KEY, operator text NOT NULL REFERENCES operator ON DELETE CASCADE,
                csrf_token text NOT NULL, source text NOT NULL,
                created_at timestamptz NOT NULL, last_used_at timestamptz NOT NULL, ended_at timestamptz)
            """,
            "CREATE INDEX login_failure_source ON login_failure(source, at)",
            "ALTER TABLE event ADD COLUMN arrival bigserial",
            "CREATE INDEX event_arrival ON event(arrival)",
            // The board's door states (each door's latest event of each type) and open alarms.
            "CREATE INDEX event_door_type ON event(controller_id, door, type, seq DESC) WHERE door IS NOT NULL",
            "CREATE INDEX event_type ON event(type, arrival)",
            """
            CREATE TABLE alarm_ack (
                controller_id bigint NOT NULL, seq bigint NOT NULL, operator text NOT NULL, comment text NOT NULL,
                at timestamptz NOT NULL, PRIMARY KEY (controller_id, seq), FOREIGN KEY (controller_id, seq) REFERENCES event)
            """,
        ]),
        // Sign-in attempts counted from the moment they are admitted (an id, so a success can
        // take its own back); the last TOTP step each operator used (a code works once).
        ("v3-sign-in", [
            "ALTER TABLE login_failure ADD COLUMN id bigserial PRIMARY KEY",
            "ALTER TABLE operator ADD COLUMN totp_last_step bigint",
        ]),
        // Which controller runs which door: pinned when a door is first reported, moved only
        // by an admin (audited). A certificate proves who a board is, not what it owns.
        ("v4-door-owner", [
            """
            CREATE TABLE door_owner (
                door text PRIMARY KEY, controller_id bigint NOT NULL REFERENCES controller, since timestamptz NOT NULL)
            """,
        ]),
        // The change feed's identity (FeedIdentity.swift): a new one whenever revisions could
        // be handed out again (a restore, noticed against the server's own watermark).
        ("v5-feed-identity", [
            "ALTER TABLE feed_state ADD COLUMN feed_id text",
            "UPDATE feed_state SET feed_id = md5(random()::text || clock_timestamp()::text)",
        ]),
    ]

    /// Applies what is missing, each migration in its own transaction; several server
    /// instances starting at once take turns on an advisory lock.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(\(Locks.migration))", logger: logger)
            try await conn.query("CREATE TABLE IF NOT EXISTS schema_migration (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", logger: logger)
            var applied: Set<String> = []
            for try await id in try await conn.query("SELECT id FROM schema_migration", logger: logger).decode(String.self) { applied.insert(id) }
            let known = Set(migrations.map(\.id))
            let unknown = applied.subtracting(known)
            guard unknown.isEmpty else { throw CentralError.newerSchema(unknown.sorted()) }
            for m in migrations where !applied.contains(m.id) {
                for statement in m.sql { try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await conn.query("INSERT INTO schema_migration (id) VALUES (\(m.id))", logger: logger)
            }
        }
    }
}

/// Advisory lock keys. `changes` serialises every replicated change, so revisions are
/// handed out in commit order and a controller reading "since R" never skips one that
/// commits late.
enum Locks {
    static let migration: Int64 = 0x5741_5244_0001
    static let changes: Int64 = 0x5741_5244_0002
    /// Sign-in attempts are admitted one at a time, so a burst meets the lock-out exactly.
    static let signIn: Int64 = 0x5741_5244_0003
}
