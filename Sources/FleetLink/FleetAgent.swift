import Audit
import FleetProtocol
import Foundation
import Storage
import WardenCore

/// What `warden status` and the server's fleet view show of the link.
public struct FleetLinkStatus: Codable, Sendable, Equatable {
    public var server: String
    public var controller: String
    public var connected: Bool
    public var lastContact: Date?
    public var appliedRevision: Int64
    public var serverRevision: Int64?
    /// The server's high-water mark: every local row up to it is stored centrally.
    public var acknowledgedSeq: Int64
    public var bufferedEvents: Int64
    /// What the buffer can hold now (the ceiling, or less when the disk is filling).
    public var bufferCapacity: Int64?
    public var bufferLevel: FleetBuffer.Level?
    public var clockSkewSeconds: Double?
    public var lastError: String?
    /// A configuration the server sent that this board could not put in place (the previous
    /// one stays in force); nil once a later version of it applies.
    public var applyProblem: String?
}

/// A controller's side of the fleet, run beside the doors by `warden run`: it pulls the
/// change feed into the local replica, uploads the local audit log in order, and reports
/// itself. It never touches a door: a lost link leaves the replica as it was and the
/// doors deciding from it, and both the loss and the return are logged.
public final class FleetAgent: @unchecked Sendable {
    public let membership: FleetMembership
    let transport: any FleetTransport
    let db: WardenDatabase
    let audit: AuditStore
    let home: String
    let wardenVersion: String
    let record: @Sendable (AuditEvent) -> Void
    let doors: @Sendable () -> [FleetDoorReport]
    /// Runs enrollment captures the server hands this board; nil: it takes none.
    let captures: (any FleetCaptureRunning)?

    private let lock = NSLock()
    private var status: FleetLinkStatus
    private var reloadRequested: ReloadScope? = nil
    private var everConnected: Bool? = nil
    private var lostAt: Date? = nil
    private var skewAlarmed = false
    /// The server's high-water mark has been heard this run.
    private var markKnown = false
    private var bufferLevel = FleetBuffer.Level.normal
    private var footprint: (bytesPerRow: Int64, at: Date)?
    private var prefetched: (since: Int64, page: Task<ChangeSet, Error>)?
    /// The mark last written to `fleet/acknowledged` (read from it once, at start).
    private var recordedMark: Int64

    public init(membership: FleetMembership, transport: any FleetTransport, db: WardenDatabase, audit: AuditStore, home: String, wardenVersion: String,
                record: @escaping @Sendable (AuditEvent) -> Void, doors: @escaping @Sendable () -> [FleetDoorReport] = { [] },
                captures: (any FleetCaptureRunning)? = nil) {
        self.membership = membership; self.transport = transport; self.db = db; self.audit = audit; self.home = home
        self.wardenVersion = wardenVersion; self.record = record; self.doors = doors; self.captures = captures
        recordedMark = membership.acknowledgedSeq()
        status = FleetLinkStatus(server: membership.settings.server, controller: membership.settings.controller, connected: false, lastContact: nil,
                                 appliedRevision: (try? db.replica.appliedRevision()) ?? 0, serverRevision: nil, acknowledgedSeq: recordedMark,
                                 bufferedEvents: 0, clockSkewSeconds: nil, lastError: nil)
    }

    /// Closes the link's connections; call once the agent is no longer run.
    public func shutdown() async { await transport.shutdown() }

    public var linkStatus: FleetLinkStatus { lock.withLock { status } }

    /// What to reload, once after the replica or the configuration changed (nil: nothing).
    public func takeReloadRequest() -> ReloadScope? { lock.withLock { defer { reloadRequested = nil }; return reloadRequested } }

    private func update(_ body: (inout FleetLinkStatus) -> Void) { lock.withLock { body(&status) } }

    /// Until cancelled: the feed, the upload and the heartbeat, each retrying on its own.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            // The long poll paces the feed; the floor keeps a server that answers at once from
            // being asked again at once.
            group.addTask { await self.loop(every: 0.2) { try await self.syncOnce(wait: FleetTiming.longPoll) } }
            group.addTask { await self.loop(every: 1) { let ack = try await self.uploadOnce(); return ack.accepted } }
            group.addTask { await self.loop(every: FleetTiming.heartbeat) { try await self.heartbeatOnce(); return 0 } }
            if self.captures != nil { group.addTask { await self.loop(every: 0.5) { try await self.captureOnce(wait: FleetTiming.longPoll) } } }
        }
    }

    private func loop(every pause: Double, _ body: @Sendable () async throws -> Int) async {
        while !Task.isCancelled {
            var delay = pause
            do {
                let progress = try await body()
                if progress > 0 && pause <= 1 { delay = 0 }
            } catch {
                delay = max(pause, FleetTiming.retryAfterFailure)
            }
            if delay > 0 { try? await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
        }
    }

    // MARK: the feed

    /// Fetches and applies what changed since the replica's revision (one page); returns
    /// the number of items applied.
    @discardableResult
    public func syncOnce(wait: Double = 0) async throws -> Int {
        let since = try db.replica.appliedRevision()
        // The page fetched while the last one was applied, when it starts where we are.
        let ahead = lock.withLock { defer { prefetched = nil }; return prefetched }
        var set: ChangeSet
        if let ahead, ahead.since == since { set = try await ahead.page.value } else {
            ahead?.page.cancel()
            set = try await fetchPage(since: since, wait: wait)
        }
        // Another feed than the one the replica counts in (the server's database was restored
        // from a backup): the revision means nothing there, so start again from a snapshot.
        if let feed = set.feed, let mine = try db.replica.appliedFeed(), feed != mine, !set.snapshot {
            lock.withLock { prefetched?.page.cancel(); prefetched = nil }
            record(AuditEvent(kind: .system, type: "fleet.feed_changed",
                              detail: ["from_feed": mine, "to_feed": feed, "replica_revision": String(since),
                                       "why": "the server's change feed is not the one this replica was built from (its database restored from a backup?); taking a fresh snapshot"]))
            set = try await fetchPage(since: 0, wait: 0)
            guard set.snapshot else { return 0 }
        }
        guard set.through > since || set.snapshot && !set.items.isEmpty else { return 0 }
        // More to come (a snapshot, a board far behind): the next page is fetched while
        // this one is applied, so the server's work and the board's overlap.
        if let current = set.current, current > set.through {
            let next = set.through
            lock.withLock { prefetched = (next, Task { try await self.fetchPage(since: next, wait: 0) }) }
        }
        try apply(set)
        update { $0.appliedRevision = set.through; $0.serverRevision = max($0.serverRevision ?? 0, set.through) }
        _ = try? await linked { try await self.transport.postJSON(AppliedReport.self, FleetPath.applied, AppliedReport(revision: set.through)) }
        let scope = ReloadScope.of(set)
        lock.withLock { reloadRequested = reloadRequested.map { $0.union(scope) } ?? scope }
        return max(1, set.items.count)
    }

    private func fetchPage(since: Int64, wait: Double) async throws -> ChangeSet {
        try await linked { try await self.transport.getJSON(ChangeSet.self, FleetPath.changes, query: ["since": String(since), "wait": String(Int(wait))],
                                                            timeout: .seconds(Int64(wait) + 10)) }
    }

    /// Writes the configuration first (harmless if the transaction then fails: the same
    /// versions come again), then applies the records in one transaction. A configuration
    /// this board cannot put in place is an alarm (`fleet.apply_failed`, in `warden status`
    /// and on the console) and never holds back the records beside it: a badge revoked
    /// after a bad policy file stayed active on every board while the sync retried for ever.
    /// The previous configuration stays in force until a version that applies arrives.
    func apply(_ set: ChangeSet) throws {
        for item in set.items where !item.deleted {
            guard let config = item.configuration else { continue }
            do {
                switch item.kind {
                case .policy: try ConfigurationFiles.replaceDirectory(membership.policyDirectory, with: config.files)
                case .thresholds:
                    for (name, text) in config.files where name == "matching.yaml" {
                        try ConfigurationFiles.replaceFile((home as NSString).appendingPathComponent(name), with: text)
                    }
                default: break
                }
                update { if $0.applyProblem?.hasPrefix(item.kind.rawValue + " ") ?? false { $0.applyProblem = nil } }
            } catch {
                let why = DisplayText.escapingControls(String("\(error)".prefix(300)))
                record(AuditEvent(kind: .system, type: "fleet.apply_failed",
                                  detail: ["kind": item.kind.rawValue, "version": String(config.version), "revision": String(item.revision), "why": why,
                                           "effect": "the previous \(item.kind.rawValue) stays in force; the rest of this change was applied"]))
                update { $0.applyProblem = "\(item.kind.rawValue) version \(config.version) not applied: \(why)" }
            }
        }
        try db.replica.apply(ReplicaMapping.batch(set))
    }

    // MARK: the upload

    /// Sends the next rows after the server's high-water mark. Rows stay in the local log
    /// after they are acknowledged, until `audit prune` removes them, and it never removes
    /// one above the mark recorded here. Whether or not the server answers, the buffer is
    /// measured afterwards and its alarm raised or cleared.
    @discardableResult
    public func uploadOnce(limit: Int = FleetTiming.uploadBatch) async throws -> EventAck {
        defer { checkBuffer() }
        // Learn the server's mark first, so a restarted board does not resend its history.
        if !lock.withLock({ markKnown }) { try await heartbeatOnce() }
        var after = linkStatus.acknowledgedSeq
        for _ in 0..<3 {
            let rows = try audit.rows(after: after, limit: limit)
            let last = try audit.lastSeq()
            update { $0.bufferedEvents = max(0, last - after) }
            guard !rows.isEmpty else { return EventAck(highWater: after, accepted: 0) }
            do {
                let batch = EventBatch(rows: rows.map { UploadedRow(seq: $0.seq, payload: $0.payload, prevHash: $0.prevHash, hash: $0.hash) })
                let ack: EventAck = try await linked { try await self.transport.postJSON(EventAck.self, FleetPath.events, batch, timeout: .seconds(60)) }
                update { $0.acknowledgedSeq = ack.highWater; $0.bufferedEvents = max(0, last - ack.highWater) }
                recordMark()
                return ack
            } catch FleetLinkError.refused(409, let reply) where reply.highWater != nil {
                // Out of step (first upload, or an ack lost): resume where the server says.
                after = reply.highWater!
                update { $0.acknowledgedSeq = after }
            }
        }
        throw FleetLinkError.invalid("the server keeps refusing the upload's starting point")
    }

    /// Keeps the mark on disk for `audit prune` (a failure only delays what may be pruned).
    private func recordMark() {
        let seq = linkStatus.acknowledgedSeq
        guard lock.withLock({ seq != recordedMark }) else { return }
        if (try? membership.recordAcknowledged(seq)) != nil { lock.withLock { recordedMark = seq } }
    }

    /// Measures the buffer against the disk and the ceiling, and logs each change of level:
    /// `fleet.buffer_high` at half the capacity, `fleet.buffer_full` at all of it (rows are
    /// still kept while the disk lasts: none is dropped to make room), and
    /// `fleet.buffer_normal` once uploads have brought it back down.
    func checkBuffer(now: Date = Date()) {
        guard let last = try? audit.lastSeq() else { return }
        let acked = linkStatus.acknowledgedSeq
        // The row size changes slowly; measuring it costs a few queries, so once a minute.
        let cached = lock.withLock { footprint }
        var bytesPerRow = cached?.bytesPerRow ?? 0
        if cached == nil || now.timeIntervalSince(cached!.at) > 60, let f = try? audit.footprint() {
            bytesPerRow = f.rows > 0 ? f.bytes / f.rows : 0
            lock.withLock { footprint = (bytesPerRow, now) }
        }
        let buffer = FleetBuffer(buffered: max(0, last - acked), ceiling: membership.settings.bufferEvents ?? FleetBuffer.defaultCeiling,
                                 freeBytes: Self.freeBytes(at: home), bytesPerRow: bytesPerRow)
        let (was, level) = lock.withLock {
            let was = bufferLevel
            bufferLevel = buffer.level(after: was)
            return (was, bufferLevel)
        }
        update { $0.bufferedEvents = buffer.buffered; $0.bufferCapacity = buffer.capacity; $0.bufferLevel = level }
        guard level != was else { return }
        var detail = ["buffered_events": String(buffer.buffered), "capacity_events": String(buffer.capacity),
                      "percent": String(format: "%.0f", buffer.fraction * 100), "bytes_per_event": String(buffer.bytesPerRow),
                      "server": membership.settings.server]
        switch level {
        case .high:
            detail["hours_left_at_busy_rate"] = String(format: "%.0f", buffer.hoursLeftAtBusyRate)
            detail["hint"] = "events are not reaching the server: restore the link (`warden status` shows its last error) or free disk space"
        case .full:
            detail["effect"] = "every event is still kept while the disk lasts; none is dropped to make room. If the disk fills, the audit log keeps the newest events in memory and records how many it lost"
            detail["hint"] = "restore the link to the server, or free disk space on this board"
        case .normal: break
        }
        record(AuditEvent(kind: .system, type: "fleet.buffer_\(level.rawValue)", detail: detail))
    }

    static func freeBytes(at path: String) -> Int64 {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return .max / 2 }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    // MARK: the heartbeat

    public func heartbeatOnce() async throws {
        let s = linkStatus
        let sent = Date()
        let report = ControllerReport(wardenVersion: wardenVersion, appliedRevision: s.appliedRevision, bufferedEvents: s.bufferedEvents, sentAt: sent,
                                      clockSkewSeconds: s.clockSkewSeconds, doors: doors())
        let reply: HeartbeatReply = try await linked { try await self.transport.postJSON(HeartbeatReply.self, FleetPath.heartbeat, report) }
        let received = Date()
        // The server's clock read half-way through the exchange, as NTP does.
        let skew = reply.serverTime.timeIntervalSince(sent.addingTimeInterval(received.timeIntervalSince(sent) / 2))
        update { $0.clockSkewSeconds = skew; $0.serverRevision = reply.currentRevision; $0.acknowledgedSeq = max($0.acknowledgedSeq, reply.highWater) }
        lock.withLock { markKnown = true }
        recordMark()
        let alarm = abs(skew) > FleetTiming.clockSkewAlarm
        let was = lock.withLock { defer { skewAlarmed = alarm }; return skewAlarmed }
        if alarm && !was {
            record(AuditEvent(kind: .system, type: "fleet.clock_skew", detail: ["skew_seconds": String(format: "%.1f", skew),
                                                                              "limit_seconds": String(format: "%.0f", FleetTiming.clockSkewAlarm),
                                                                              "hint": "synchronise this board's clock (systemd-timesyncd or chrony)"]))
        }
    }

    // MARK: enrollment captures

    /// Takes the next capture the server holds for this board (long poll), runs it on the
    /// door's camera, and answers: the progress while it runs, then the chosen templates or
    /// the refusal. The capture and what the server made of it go into this board's log.
    @discardableResult
    public func captureOnce(wait: Double) async throws -> Int {
        guard let runner = captures else { return 0 }
        let jobs = try await linked { try await self.transport.getJSON([CaptureJob].self, FleetPath.captures, query: ["wait": String(Int(wait))],
                                                                        timeout: .seconds(Int64(wait) + 10)) }
        for job in jobs {
            let latest = LatestProgress()
            let transport = self.transport
            // The newest progress, twice a second: the admin's live line, not a log.
            let poster = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    if let p = latest.take() { _ = try? await transport.postJSON(CaptureProgressWire.self, FleetPath.captureProgress, p) }
                }
            }
            let result = await runner.capture(job) { latest.put($0) }
            poster.cancel()
            var answer: CaptureJobStatus? = nil
            var undelivered: String? = nil
            // The result is retried while the link blinks; a refusal (the job expired) is final.
            for attempt in 0..<5 {
                do {
                    answer = try await linked { try await transport.postJSON(CaptureJobStatus.self, FleetPath.captureResult, result, timeout: .seconds(60)) }
                    break
                } catch FleetLinkError.refused(_, let reply) {
                    undelivered = reply.error; break
                } catch {
                    undelivered = "\(error)"
                    if attempt < 4 { try? await Task.sleep(for: .seconds(2)) }
                }
            }
            var detail = ["door": job.door, "job": job.id, "capture": result.captured ? "captured" : "refused", "templates": String(result.templates.count),
                          "frames": String(result.frames), "liveness": result.liveness, "server": answer?.state.rawValue ?? "not_delivered"]
            if let r = result.reason ?? answer?.reason { detail["reason"] = r }
            if let u = undelivered, answer == nil { detail["delivery"] = u }
            if let ids = answer?.templateIDs, !ids.isEmpty { detail["template_ids"] = ids.map(String.init).joined(separator: ",") }
            // An attack is kept under the same name as at a local capture: someone showed a print or a screen.
            let attack = !result.captured && result.liveness == "attack"
            record(AuditEvent.admin(attack ? "admin.enroll_refused" : "admin.enroll_capture",
                                    operator: job.requestedBy, subject: "person:\(job.personID)", detail: detail))
        }
        return jobs.count
    }

    // MARK: the link's state

    /// Runs a request and tracks the link: the first failure after a success logs
    /// `fleet.link_lost`; the first success after it, `fleet.link_restored`.
    func linked<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let r = try await body()
            let now = Date()
            let (wasDown, since) = lock.withLock {
                defer { everConnected = true; lostAt = nil; status.connected = true; status.lastContact = now; status.lastError = nil }
                return (everConnected != true, lostAt)
            }
            if wasDown, let since {
                record(AuditEvent(kind: .system, type: "fleet.link_restored", detail: ["server": membership.settings.server, "offline_seconds": String(format: "%.1f", now.timeIntervalSince(since))]))
            }
            return r
        } catch {
            if case FleetLinkError.unreachable(let why) = error {
                let now = Date()
                let first = lock.withLock {
                    let first = everConnected != false
                    if first { everConnected = false; lostAt = now }
                    status.connected = false; status.lastError = why
                    return first
                }
                if first {
                    record(AuditEvent(kind: .system, type: "fleet.link_lost", detail: ["server": membership.settings.server, "reason": why,
                                                                                     "effect": "doors keep deciding from the local replica"]))
                }
            } else {
                update { $0.lastError = "\(error)" }
            }
            throw error
        }
    }
}

/// Runs one enrollment capture at a door of this board (the run command supplies it: it
/// holds the cameras and the models).
public protocol FleetCaptureRunning: Sendable {
    func capture(_ job: CaptureJob, progress: @escaping @Sendable (CaptureProgressWire) -> Void) async -> CaptureResultWire
}

/// The newest progress of a capture, until the poster takes it.
final class LatestProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var value: CaptureProgressWire?
    func put(_ p: CaptureProgressWire) { lock.withLock { value = p } }
    func take() -> CaptureProgressWire? { lock.withLock { defer { value = nil }; return value } }
}

/// What a change asks the door loop to read again. The policy and grants are cheap; the
/// gallery means decrypting every template, which a change to one badge or one grant does
/// not need (before, every page of the feed rebuilt it).
public struct ReloadScope: Sendable, Equatable {
    /// Templates came or went (or people whose templates go with them).
    public var gallery: Bool

    public static let everything = ReloadScope(gallery: true)
    public init(gallery: Bool) { self.gallery = gallery }

    public func union(_ o: ReloadScope) -> ReloadScope { ReloadScope(gallery: gallery || o.gallery) }

    /// A snapshot replaces everything; otherwise only templates and deleted people touch the
    /// gallery (a deleted person's templates go with them).
    public static func of(_ set: ChangeSet) -> ReloadScope {
        ReloadScope(gallery: set.snapshot || set.items.contains { $0.kind == .template || ($0.kind == .person && $0.deleted) })
    }
}

/// Wire records to Storage's.
enum ReplicaMapping {
    static func batch(_ set: ChangeSet) -> ReplicaBatch {
        var upserts: [ReplicaBatch.Upsert] = []
        var deletions: [(ReplicaBatch.Kind, Int64)] = []
        for i in set.items {
            let kind: ReplicaBatch.Kind?
            switch i.kind {
            case .person: kind = .person
            case .group: kind = .group
            case .badge: kind = .badge
            case .template: kind = .template
            case .grant: kind = .grant
            case .policy, .thresholds: kind = nil
            }
            guard let kind else { continue }
            if i.deleted { deletions.append((kind, i.id)); continue }
            if let p = i.person {
                var r = Person(displayName: p.displayName, externalID: p.externalID, status: PersonStatus(stored: p.status),
                               validFrom: p.validFrom, validUntil: p.validUntil, at: p.createdAt)
                r.id = p.id; r.updatedAt = p.updatedAt
                upserts.append(.person(r))
            } else if let g = i.group {
                var r = PersonGroup(name: g.name, at: g.createdAt); r.id = g.id
                upserts.append(.group(r, members: g.members))
            } else if let b = i.badge {
                upserts.append(.badge(Badge(id: b.id, personId: b.personID, format: b.format, facilityCode: b.facilityCode, cardNumber: b.cardNumber,
                                            status: BadgeStatus(rawValue: b.status) ?? .revoked, issuedAt: b.issuedAt, revokedAt: b.revokedAt)))
            } else if let t = i.template {
                upserts.append(.template(FaceTemplate(id: t.id, personId: t.personID, embedding: t.embedding, modelID: t.modelID, interEyeDistance: t.interEyeDistance,
                                                      sharpness: t.sharpness, yaw: t.yaw, roll: t.roll, detectionScore: t.detectionScore, sourceSHA256: t.sourceSHA256,
                                                      sourceName: t.sourceName, createdBy: t.createdBy, createdAt: t.createdAt)))
            } else if let g = i.grant {
                var r = AccessGrant(personID: g.personID, groupName: g.groupName, zone: g.zone, schedule: g.schedule, until: g.until, createdBy: g.createdBy, at: g.createdAt)
                r.id = g.id
                upserts.append(.grant(r))
            }
        }
        return ReplicaBatch(snapshot: set.snapshot, revision: set.through, upserts: upserts, deletions: deletions, feed: set.feed)
    }
}

/// Configuration files replaced whole: written beside, fsynced, renamed into place.
enum ConfigurationFiles {
    static func replaceFile(_ path: String, with text: String) throws {
        let tmp = path + ".fleet-new"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw FleetLinkError.invalid("cannot write \(tmp)")
        }
        guard rename(tmp, path) == 0 else { throw FleetLinkError.invalid("cannot install \(path): \(String(cString: strerror(errno)))") }
    }

    static func replaceDirectory(_ dir: String, with files: [String: String]) throws {
        let fm = FileManager.default
        let fresh = dir + ".new", old = dir + ".old"
        try? fm.removeItem(atPath: fresh)
        try fm.createDirectory(atPath: fresh, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, text) in files {
            // Names come from the server; a path in one would write outside the directory.
            if let problem = ConfigurationFileRules.nameProblem(name) { throw FleetLinkError.invalid("the server sent a policy file it should have refused: \(problem)") }
            guard fm.createFile(atPath: (fresh as NSString).appendingPathComponent(name), contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw FleetLinkError.invalid("cannot write the policy file \(name)")
            }
        }
        try? fm.removeItem(atPath: old)
        if fm.fileExists(atPath: dir) { try fm.moveItem(atPath: dir, toPath: old) }
        try fm.moveItem(atPath: fresh, toPath: dir)
        try? fm.removeItem(atPath: old)
    }
}
