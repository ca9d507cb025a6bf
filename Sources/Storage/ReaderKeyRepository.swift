import Foundation
import GRDB
import WardenCore

/// OSDP readers' Secure Channel keys, one per door, sealed under the template key (AES-GCM,
/// bound to the door) and re-sealed when it rotates. A key is never logged: an audit event
/// names the door and the key's generation.
///
/// A new key is stored as *pending* before the reader is given it, and becomes the door's
/// key once a Secure Channel session under it has succeeded. Whatever is interrupted (the
/// process, the bus, the KEYSET's answer), the reader holds a key Warden still has.
public struct ReaderKeyRepository: Sendable {
    let writer: DatabasePool
    let changes: ChangeWriter
    let cipher: TemplateCipher

    public struct Info: Sendable, Equatable, Codable {
        public let door: String
        public let installed: Bool
        public let pending: Bool
        public let generation: Int
        public let setAt: Date?
    }

    static func context(_ door: String) -> String { "osdp-scbk|door:\(door)" }

    /// The door's reader key, or nil when its reader was never installed.
    public func key(door: String) throws -> [UInt8]? { try open(door, "sealed") }
    /// A key being set on the door's reader, if a change is under way or was interrupted.
    public func pendingKey(door: String) throws -> [UInt8]? { try open(door, "pending") }

    private func open(_ door: String, _ column: String) throws -> [UInt8]? {
        guard let blob = try writer.read({ try Data.fetchOne($0, sql: "SELECT \(column) FROM readerKey WHERE door = ?", arguments: [door]) }) else { return nil }
        return try cipher.openSecret(blob, context: Self.context(door))
    }

    public func list() throws -> [Info] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT door, sealed IS NOT NULL AS installed, pending IS NOT NULL AS pending, generation, setAt FROM readerKey ORDER BY door").map {
                Info(door: $0["door"], installed: $0["installed"], pending: $0["pending"], generation: $0["generation"], setAt: $0["setAt"])
            }
        }
    }

    /// Stores the key about to be set on the door's reader (`how`: install or rotate),
    /// audited. A pending key already there is replaced only when `replacing` says it is
    /// known not to be on the reader.
    public func stagePending(door: String, key: [UInt8], how: String, reader: String, by op: Operator, at now: Date = Date()) throws {
        guard key.count == 16 else { throw StorageError.invalid("an OSDP key is 16 bytes, not \(key.count)") }
        try changes.write { db, journal in
            try db.execute(sql: "INSERT INTO readerKey (door, pending, generation) VALUES (?, ?, 0) ON CONFLICT(door) DO UPDATE SET pending = excluded.pending",
                           arguments: [door, try cipher.sealSecret(key, context: Self.context(door))])
            try journal.record("reader.key_staged", subject: "door:\(door)", fields: ["door": door, "how": how, "reader": reader], by: op, at: now, in: db)
        }
    }

    /// The pending key worked (a Secure Channel session under it succeeded): it becomes the
    /// door's key. Returns its generation.
    @discardableResult
    public func commitPending(door: String, how: String, reader: String, by op: Operator, at now: Date = Date()) throws -> Int {
        try changes.write { db, journal in
            guard let row = try Row.fetchOne(db, sql: "SELECT pending, generation FROM readerKey WHERE door = ?", arguments: [door]), let pending = row["pending"] as Data? else {
                throw StorageError.notFound("door \(door) has no key change under way")
            }
            let generation = (row["generation"] as Int) + 1
            try db.execute(sql: "UPDATE readerKey SET sealed = ?, pending = NULL, generation = ?, setAt = ? WHERE door = ?", arguments: [pending, generation, now, door])
            try journal.record("reader.key_set", subject: "door:\(door)", fields: ["door": door, "how": how, "generation": String(generation), "reader": reader], by: op, at: now, in: db)
            return generation
        }
    }

    /// Forgets a door's reader keys (the reader was replaced or reset); audited.
    public func remove(door: String, by op: Operator, at now: Date = Date()) throws {
        try changes.write { db, journal in
            try db.execute(sql: "DELETE FROM readerKey WHERE door = ?", arguments: [door])
            guard db.changesCount > 0 else { throw StorageError.notFound("door \(door) has no reader key") }
            try journal.record("reader.key_removed", subject: "door:\(door)", fields: ["door": door], by: op, at: now, in: db)
        }
    }
}
