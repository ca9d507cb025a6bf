import FleetProtocol
import Foundation
import WardenCore

/// The capture jobs in flight: asked for by an admin, taken by the board that runs the
/// door, answered by it. In memory only (a capture lasts seconds; a restarted server has
/// the admin ask again). One job at a time per controller: a board has one capture
/// engine to lend, and a door has one person in front of it.
actor CaptureRelay {
    struct Entry {
        var job: CaptureJob
        var status: CaptureJobStatus
        var requestedBy: Operator
        var force: Bool
        var takenAt: Date?
        var finishedAt: Date?
    }

    /// A board that is online takes a job within its next long poll (about a second); past
    /// this it is not taking captures (an older Warden, or its capture failed to start).
    static let untakenLimit: TimeInterval = 30
    /// Beyond the capture's own seconds: loading the models, the jittered templates, the upload.
    static let resultMargin: TimeInterval = 90
    /// Finished jobs are kept this long for the admin's last poll.
    static let keptFor: TimeInterval = 600

    private var entries: [String: Entry] = [:]
    let now: @Sendable () -> Date
    init(now: @escaping @Sendable () -> Date = { Date() }) { self.now = now }

    func start(_ job: CaptureJob, controller: String, requestedBy: Operator, force: Bool) throws -> CaptureJobStatus {
        expire()
        if let busy = entries.values.first(where: { $0.status.controller == controller && !$0.status.state.isFinal }) {
            throw CentralError.conflict("a capture is already under way at controller '\(controller)' (door \(busy.job.door), asked by \(busy.requestedBy.name)); try again when it ends")
        }
        let status = CaptureJobStatus(job: job.id, door: job.door, controller: controller, personID: job.personID, state: .waiting, version: 1)
        entries[job.id] = Entry(job: job, status: status, requestedBy: requestedBy, force: force)
        return status
    }

    /// The next job for this controller, marked as taken; nil when none waits.
    func take(controller: String) -> CaptureJob? {
        expire()
        guard let id = entries.values.filter({ $0.status.controller == controller && $0.status.state == .waiting })
            .min(by: { $0.job.requestedAt < $1.job.requestedAt })?.job.id else { return nil }
        entries[id]!.takenAt = now()
        change(id) { $0.state = .capturing }
        return entries[id]!.job
    }

    func progress(_ p: CaptureProgressWire, from controller: String) throws {
        _ = try owned(p.job, by: controller)
        change(p.job) { $0.progress = p }
    }

    /// The job a board answers, when it is that board's and still under way.
    func answering(_ id: String, from controller: String) throws -> Entry {
        let e = try owned(id, by: controller)
        guard e.status.state == .capturing else { throw CentralError.conflict("capture \(id) is \(e.status.state.rawValue), not under way") }
        return e
    }

    func finish(_ id: String, state: CaptureJobStatus.State, result: CaptureResultWire?, templateIDs: [Int64] = [],
                second: (model: String, templateIDs: [Int64])? = nil, reason: String?) -> CaptureJobStatus? {
        guard entries[id] != nil else { return nil }
        entries[id]!.finishedAt = now()
        change(id) {
            $0.state = state; $0.result = result; $0.templateIDs = templateIDs; $0.reason = reason
            $0.secondModel = second?.model; $0.secondTemplateIDs = second?.templateIDs
        }
        return entries[id]!.status
    }

    func status(_ id: String) throws -> CaptureJobStatus {
        expire()
        guard let e = entries[id] else { throw CentralError.notFound("no capture job '\(id)' (finished ones are kept \(Int(Self.keptFor / 60)) minutes; a restarted server forgets them)") }
        return e.status
    }

    private func owned(_ id: String, by controller: String) throws -> Entry {
        guard let e = entries[id], e.status.controller == controller else { throw CentralError.notFound("no capture job '\(id)' for controller '\(controller)'") }
        return e
    }

    private func change(_ id: String, _ body: (inout CaptureJobStatus) -> Void) {
        body(&entries[id]!.status)
        entries[id]!.status.version += 1
    }

    /// Jobs nobody answers end as failed, saying which side went quiet.
    private func expire() {
        let t = now()
        for (id, e) in entries {
            if let done = e.finishedAt {
                if t.timeIntervalSince(done) > Self.keptFor { entries[id] = nil }
            } else if e.status.state == .waiting, t.timeIntervalSince(e.job.requestedAt) > Self.untakenLimit {
                _ = finish(id, state: .failed, result: nil, reason: "controller '\(e.status.controller)' did not take the capture within \(Int(Self.untakenLimit)) s "
                           + "(is it running `warden run` of this version? `warden fleet status` shows when it was last seen)")
            } else if let taken = e.takenAt, t.timeIntervalSince(taken) > e.job.seconds + Self.resultMargin {
                _ = finish(id, state: .failed, result: nil, reason: "controller '\(e.status.controller)' took the capture but sent no result within \(Int(e.job.seconds + Self.resultMargin)) s; its log says why")
            }
        }
    }
}
