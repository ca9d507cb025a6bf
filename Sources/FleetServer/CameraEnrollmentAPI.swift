import Audit
import Crypto
import FaceKit
import FleetProtocol
import Foundation
import ServiceLifecycle
import Hummingbird
import Matching
import WardenCore

/// Enrollment at a door's camera through the server (`CaptureRelay` holds the jobs).
extension FleetHTTPServer {
    /// A board whose last heartbeat is older than this is not asked to capture.
    static let captureControllerSilence: TimeInterval = 15

    func cameraEnrollmentRoutes(_ router: Router<FleetRequestContext>) {
        router.post(RouterPath(stringLiteral: AdminPath.enrollCamera)) { req, ctx in
            try await reply {
                let op = try await authorised(req, .enroll, ctx)
                let r: AdminCameraEnroll = try await decode(req)
                return try await startCapture(r, by: op)
            }
        }
        router.get(RouterPath(stringLiteral: AdminPath.enrollCameraStatus)) { req, ctx in
            try await reply {
                _ = try await authorised(req, .enroll, ctx)
                let q = req.uri.queryParameters
                guard let id = q.get("job") else { throw CentralError.invalid("which capture? (?job=ID)") }
                let after = try PeerInput.integer(q.get("after"), "after", in: 0...Int64(Int32.max), default: 0)
                return try await captureStatus(job: id, after: Int(after), wait: try Self.longPollWait(q.get("wait")))
            }
        }
        router.get(RouterPath(stringLiteral: FleetPath.captures)) { req, ctx in
            try await reply {
                let c = try await controller(ctx)
                let wait = try Self.longPollWait(req.uri.queryParameters.get("wait"))
                let job = try await Self.poll(wait: wait) { await captures.take(controller: c.name) } last: { nil }
                // Revoked while it waited: the job is not handed over.
                if job != nil { _ = try await controller(ctx) }
                return job.map { [$0] } ?? []
            }
        }
        router.post(RouterPath(stringLiteral: FleetPath.captureProgress)) { req, ctx in
            try await reply {
                let c = try await controller(ctx)
                let p: CaptureProgressWire = try await decode(req)
                try await captures.progress(p, from: c.name)
                return p
            }
        }
        router.post(RouterPath(stringLiteral: FleetPath.captureResult)) { req, ctx in
            try await reply {
                let c = try await controller(ctx)
                let r: CaptureResultWire = try await decode(req)
                return try await finishCapture(r, from: c.name)
            }
        }
    }

    /// Checks every 100 ms until `ready` answers or `wait` seconds pass, then answers `last`.
    static func poll<T: Sendable>(wait: Double, _ ready: @Sendable () async throws -> T?, last: @Sendable () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .milliseconds(Int(wait * 1000))
        while true {
            if let r = try await ready() { return r }
            // A stopping server answers at once rather than hold its graceful shutdown.
            if ContinuousClock.now >= deadline || Task.isShuttingDownGracefully { return try await last() }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A capture job's status once it changes past version `after` or ends, waiting up to
    /// `wait` seconds (at most the long poll's limit): the admin API's and the console's.
    package func captureStatus(job id: String, after: Int, wait: Double) async throws -> CaptureJobStatus {
        try PeerInput.check(wait, "wait", in: 0...Self.maximumLongPoll)
        return try await Self.poll(wait: wait) {
            let s = try await captures.status(id)
            return s.version > after || s.state.isFinal ? s : nil
        } last: { try await captures.status(id) }
    }

    package func startCapture(_ r: AdminCameraEnroll, by op: AuthenticatedOperator) async throws -> CaptureJobStatus {
        guard (1...60).contains(r.seconds), (1...10).contains(r.templates) else { throw CentralError.invalid("a capture lasts 1 to 60 s and keeps 1 to 10 templates") }
        let person = try await store.findPerson(r.person)
        // The door's owner as the server pinned it, never whichever board claimed it last.
        let owner = try await store.doorOwner(r.door)
        guard let holder = try await store.controllers().first(where: { $0.status == "active" && $0.name == owner && $0.doors.contains { $0.id == r.door } }) else {
            throw CentralError.notFound("no controller reports a door '\(r.door)' (`warden fleet status` lists each controller's doors)")
        }
        let silent = Date().timeIntervalSince(holder.lastSeen ?? .distantPast)
        guard silent <= Self.captureControllerSilence else {
            throw CentralError.conflict(String(format: "controller '%@', which runs door %@, was last heard from %@; it cannot capture while offline",
                                               holder.name, r.door, holder.lastSeen.map { AuditTime.utc($0) } ?? "never"))
        }
        let job = CaptureJob(id: UUID().uuidString.lowercased(), door: r.door, personID: person.id, personName: person.displayName, seconds: r.seconds,
                             templates: r.templates, requestedBy: op.name, requestedAt: Date())
        logger.info("capture \(job.id): #\(person.id) at door \(r.door) of controller \(holder.name), asked by \(op.name)")
        return try await captures.start(job, controller: holder.name, requestedBy: op.asOperator, force: r.force)
    }

    /// A board's answer: a refusal is passed on; chosen faces are checked against the
    /// whole fleet's gallery and stored as one change, on behalf of the admin who asked.
    func finishCapture(_ r: CaptureResultWire, from controller: String) async throws -> CaptureJobStatus {
        let entry = try await captures.answering(r.job, from: controller)
        func end(_ state: CaptureJobStatus.State, ids: [Int64] = [], second: (model: String, templateIDs: [Int64])? = nil, _ reason: String?) async throws -> CaptureJobStatus {
            guard let s = await captures.finish(r.job, state: state, result: r, templateIDs: ids, second: second, reason: reason) else {
                throw CentralError.notFound("capture \(r.job) ended meanwhile")
            }
            return s
        }
        guard r.captured else { return try await end(.refused, r.reason ?? "the capture was refused") }
        // What a board sends is checked like anything else from the network.
        guard !r.templates.isEmpty, r.templates.count <= entry.job.templates else {
            return try await end(.refused, "the controller sent \(r.templates.count) templates for a capture of at most \(entry.job.templates)")
        }
        var embeddings: [Embedding] = []
        for t in r.templates {
            guard let e = try? Embedding(serialized: [UInt8](t.embedding)), e.modelID == t.modelID, e.values.allSatisfy(\.isFinite) else {
                return try await end(.refused, "the controller sent a template that cannot be read")
            }
            embeddings.append(e)
        }
        guard Set(embeddings.map(\.modelID)).count == 1 else { return try await end(.refused, "the controller sent templates of different models") }
        // The second model's embeddings of the same faces: all or none, one model, not the
        // first's, each readable.
        var seconds: [Embedding] = []
        for t in r.templates {
            guard let data = t.secondEmbedding else { continue }
            guard let e = try? Embedding(serialized: [UInt8](data)), e.values.allSatisfy(\.isFinite), e.modelID != embeddings[0].modelID else {
                return try await end(.refused, "the controller sent a second-model template that cannot be read")
            }
            seconds.append(e)
        }
        guard seconds.isEmpty || (seconds.count == embeddings.count && Set(seconds.map(\.modelID)).count == 1) else {
            return try await end(.refused, "the controller sent second-model templates for some faces and not others, or of different models")
        }
        if !entry.force {
            do { try await refuseDuplicates(embeddings, of: entry.job.personID) } catch let e as CentralError { return try await end(.refused, e.description) }
        }
        let source = "door \(entry.job.door) at controller \(controller)"
        let pairs = zip(r.templates, embeddings).map { ($0, $1) } + zip(r.templates, seconds).map { ($0, $1) }
        let rows = pairs.map { t, e in
            let data = Data(e.serialized())
            return TemplateRecordWire(id: 0, personID: entry.job.personID, embedding: data, modelID: e.modelID, interEyeDistance: t.interEyeDistance,
                                      sharpness: t.sharpness, yaw: t.yaw, roll: t.roll, detectionScore: t.detectionScore,
                                      sourceSHA256: Hex.encode(SHA256.hash(data: data)),
                                      sourceName: TemplateSelection.captureSourceName(camera: source, frame: t.frame, pose: t.pose, yaw: t.yaw, noseDrop: t.noseDrop),
                                      createdBy: entry.requestedBy.name, createdAt: Date())
        }
        let ids = try await store.addTemplates(rows, source: "camera, \(source)", by: entry.requestedBy)
        logger.info("capture \(r.job): \(ids.count) templates stored for #\(entry.job.personID)")
        let second = seconds.first.map { (model: $0.modelID, templateIDs: Array(ids.dropFirst(embeddings.count))) }
        return try await end(.enrolled, ids: Array(ids.prefix(embeddings.count)), second: second, nil)
    }

    /// Refuses a face that already matches another person anywhere in the fleet, at the
    /// 1:1 threshold the boards match with (published, else the server's own).
    func refuseDuplicates(_ embeddings: [Embedding], of personID: Int64) async throws {
        guard let modelID = embeddings.first?.modelID else { return }
        let gallery = try await store.allTemplates(modelID: modelID).filter { $0.personID != personID }
        let verify = (try await store.publishedThresholds() ?? enrollment?.thresholds ?? .default).verify
        for e in embeddings {
            let nearest = gallery.compactMap { t in (try? DistanceMetric.euclidean.distance(e, t.embedding)).map { (t.personID, $0) } }.min { $0.1 < $1.1 }
            if let nearest, nearest.1 <= verify {
                let other = try? await store.findPerson("#\(nearest.0)")
                throw CentralError.conflict(String(format: "this face already matches #%lld %@ (distance %.3f, threshold %.2f) in the fleet; enrollment refused. If they really are different people, repeat with --force.",
                                                   nearest.0, other?.displayName ?? "?", nearest.1, verify))
            }
        }
    }
}
