import CommandSupport
import WardenCLI
import WardenCore
import ArgumentParser
import Audit
import Foundation

struct BenchAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Sustained audit events per second and append latency, with the chain verified after.",
        discussion: """
        Records access-decision events with full face evidence as fast as the writer takes \
        them, through the same bounded queue and batched transactions (synchronous=FULL) the \
        controller uses, into a fresh log in the data directory. Latency is from `record` \
        (the door's call) to the commit that made the event durable. With --ack, prints \
        "ack SEQ" after each commit (used by the crash test).
        """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Events to write (0: until killed).") var events = 50_000
    @Flag(help: "Print 'ack SEQ' on stdout after each commit.") var ack = false
    @Option(help: "Events per second to pace the latency phase at (after the flood phase).") var rate = 5_000
    @Option(help: "Seconds of the paced latency phase (0 to skip).") var pacedSeconds = 5.0

    struct Result: Codable {
        let events: Int
        let seconds: Double
        let eventsPerSecond: Double
        /// Under the flood: mostly time queued behind other events.
        let floodLatencyMs: SampleStats
        let pacedRate: Int
        /// Record-to-durable at the paced rate: what a door's event waits at that load.
        let pacedLatencyMs: SampleStats?
        let chainVerified: Bool
        let databaseBytes: Int
    }

    final class Latencies: @unchecked Sendable {
        let lock = NSLock()
        var enqueued: [Int: UInt64] = [:]
        var samples: [Double] = []
    }

    func run() throws {
        let store = try global.openAudit(ownHome: true)
        let (flood, floodSeconds) = try phase(store: store, count: events, perSecond: 0)
        var paced: [Double]? = nil
        if events > 0, pacedSeconds > 0, rate > 0 {
            paced = try phase(store: store, count: Int(Double(rate) * pacedSeconds), perSecond: rate).latencies
        }
        let report = try store.verify()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int) ?? 0
        let result = Result(events: events, seconds: floodSeconds, eventsPerSecond: Double(events) / floodSeconds,
                            floodLatencyMs: SampleStats(flood), pacedRate: rate, pacedLatencyMs: paced.map(SampleStats.init),
                            chainVerified: report.ok, databaseBytes: bytes ?? 0)
        if global.json { try Output.json(result); return }
        print(String(format: "audit: %d events in %.2f s = %.0f events/s sustained (writer saturated)", events, floodSeconds, result.eventsPerSecond))
        if let p = result.pacedLatencyMs {
            print(String(format: "       at %d events/s: record-to-durable latency median %.2f ms, p99 %.2f ms", rate, p.median, p.p99))
        }
        print(String(format: "       chain %@ (%d events), %.1f MB on disk, synchronous=FULL", report.ok ? "verified" : "BROKEN", report.count, Double(result.databaseBytes) / 1e6))
    }

    /// Writes `count` events (0: forever), as fast as possible or paced at `perSecond`.
    private func phase(store: AuditStore, count: Int, perSecond: Int) throws -> (latencies: [Double], seconds: Double) {
        let lat = Latencies()
        let printAcks = ack
        let log = AuditLog(store: store, capacity: 20_000) { written in
            let now = DispatchTime.now().uptimeNanoseconds
            lat.lock.lock()
            for e in written {
                if let key = Int(e.detail?["n"] ?? ""), let t = lat.enqueued.removeValue(forKey: key) {
                    lat.samples.append(Double(now - t) / 1e6)
                }
            }
            lat.lock.unlock()
            if printAcks, let last = written.last {
                print("ack \(last.seq)")
                fflush(nil)
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while count == 0 || i < count {
            if perSecond > 0 {
                let due = start + UInt64(Double(i) / Double(perSecond) * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { usleep(useconds_t((due - now) / 1000)) }
            }
            var e = AuditEvent(kind: .decision, type: i % 5 == 0 ? "access.denied" : "access.granted", door: "door-\(i % 4)",
                               zone: "zone-a", reader: "reader-1", camera: "cam-1", badge: "12:\(i % 60000)", personID: Int64(i % 500),
                               personName: "Person \(i % 500)", result: i % 5 == 0 ? "denied" : "granted",
                               factors: [FactorResult(factor: "badge", ok: true), FactorResult(factor: "face", ok: i % 5 != 0)],
                               face: FaceEvidence(distance: 0.31, threshold: 0.41, margin: 0.1, quality: 0.9, frames: 3, modelID: "dlib_face_recognition_resnet_model_v1"),
                               rule: "grant:staff-office", reasons: i % 5 == 0 ? ["face_mismatch"] : [], doorAction: "released 5s",
                               detail: ["n": String(i)], siteTimeZone: TimeZone(identifier: "Europe/Berlin"))
            e.at = Date()
            lat.lock.lock(); lat.enqueued[i] = DispatchTime.now().uptimeNanoseconds; lat.lock.unlock()
            // Back-pressure for the benchmark only: a door never waits (it would spill).
            while log.pendingCount >= 15_000 { usleep(500) }
            log.record(e)
            i += 1
        }
        log.close(timeout: 60)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        lat.lock.lock(); defer { lat.lock.unlock() }
        return (lat.samples, seconds)
    }
}

