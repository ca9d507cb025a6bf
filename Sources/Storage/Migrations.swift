import GRDB
import WardenCore

/// Every schema change, in order, in one place. Never edit a shipped migration; add one.
enum WardenMigrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()

        m.registerMigration("v1-identity") { db in
            try db.create(table: "person") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("displayName", .text).notNull()
                t.column("externalID", .text).unique()
                t.column("status", .text).notNull().defaults(to: PersonStatus.active.rawValue)
                    .check(sql: "status IN ('active','suspended')")
                t.column("validFrom", .datetime)
                t.column("validUntil", .datetime)
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(table: "badge") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("person", onDelete: .cascade).notNull()
                t.column("format", .text).notNull()
                t.column("facilityCode", .integer).notNull()
                t.column("cardNumber", .integer).notNull()
                t.column("status", .text).notNull().check(sql: "status IN ('active','revoked')")
                t.column("issuedAt", .datetime).notNull()
                t.column("revokedAt", .datetime)
            }
            // One active badge per credential; revoked ones stay for the record.
            try db.execute(sql: """
                CREATE UNIQUE INDEX badge_active_credential ON badge(format, facilityCode, cardNumber)
                WHERE status = 'active'
                """)
            try db.create(table: "faceTemplate") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("person", onDelete: .cascade).notNull()
                t.column("embedding", .blob).notNull()
                t.column("modelID", .text).notNull()
                t.column("interEyeDistance", .double).notNull()
                t.column("sharpness", .double).notNull()
                t.column("yaw", .double).notNull()
                t.column("roll", .double).notNull()
                t.column("detectionScore", .double).notNull()
                t.column("sourceSHA256", .text).notNull()
                t.column("sourceName", .text).notNull()
                t.column("createdBy", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "personGroup") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique(onConflict: .abort)
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "groupMembership") { t in
                t.belongsTo("personGroup", onDelete: .cascade).notNull()
                t.belongsTo("person", onDelete: .cascade).notNull()
                t.primaryKey(["personGroupId", "personId"])
            }
            // Administrative changes, attributed to an operator. The audit log takes these
            // over when it lands; until then this is the record of who changed what.
            try db.create(table: "adminChange") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull()
                t.column("operator", .text).notNull()
                t.column("action", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("detail", .text).notNull()
            }
        }
        m.registerMigration("v2-grants") { db in
            // Grants made from the CLI; merged with the policy files' grants at load.
            try db.create(table: "accessGrant") { t in
                t.autoIncrementedPrimaryKey("id")
                t.belongsTo("person", onDelete: .cascade)
                t.column("groupName", .text)
                t.column("zone", .text).notNull()
                t.column("schedule", .text)
                t.column("until", .datetime)
                t.column("createdBy", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.check(sql: "(personId IS NULL) <> (groupName IS NULL)")
            }
        }
        m.registerMigration("v3-audit-link") { db in
            // Each change names the audit row that records it (see ChangeJournal). Changes
            // from before were audited separately, afterwards: 0 marks them as such.
            try db.alter(table: "adminChange") { t in t.add(column: "auditSeq", .integer) }
            try db.execute(sql: "UPDATE adminChange SET auditSeq = 0")
        }
        m.registerMigration("v4-fleet-replica") { db in
            // The fleet revision a controller's replica holds (one row; absent off a fleet).
            try db.execute(sql: "CREATE TABLE fleetReplica (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, appliedAt DATETIME NOT NULL)")
        }
        m.registerMigration("v5-reader-keys") { db in
            // Each OSDP reader's Secure Channel key, sealed under the template key (see
            // ReaderKeyRepository); `generation` counts the keys a door's reader has had.
            // `pending`: a key being set on the reader, stored before the reader gets it, so
            // an interrupted change never leaves a reader under a key nobody holds.
            try db.execute(sql: "CREATE TABLE readerKey (door TEXT PRIMARY KEY, sealed BLOB, pending BLOB, generation INTEGER NOT NULL, setAt DATETIME)")
        }
        m.registerMigration("v6-replica-feed") { db in
            // Which change feed the replica's revision counts in: a server restored from a
            // backup starts a new one, and the replica then takes a fresh snapshot.
            try db.execute(sql: "ALTER TABLE fleetReplica ADD COLUMN feed TEXT")
        }
        return m
    }
}

extension WardenDatabase {
    /// The identity database's migrations this build knows, in order: a backup whose
    /// database has one it does not know was made by a newer Warden.
    public static var knownMigrations: [String] { WardenMigrations.migrator.migrations }
}
