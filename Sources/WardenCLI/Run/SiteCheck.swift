import Board
import CommandSupport
import ArgumentParser
import Controller
import DoorIO
import Foundation
import Policy
import Storage

/// `warden run --check`: what a start would find, without starting. The same validation as
/// a start (RunCommand step 1), then what would start but not work (SiteConfig.warnings),
/// the liveness and second models, and the grants the doors would decide on.
struct SiteCheckReport: Codable {
    var ok: Bool
    var site: String
    var problems: [String]
    var warnings: [String]
    var notes: [String]
    var doors: [String]
}

extension RunCommand {
    func reportCheck(problems: [String], config: SiteConfig?, policy filePolicy: SitePolicy?, pinMap: PinMap?, database: WardenDatabase?, notes: inout [String]) throws {
        var problems = problems
        var warnings: [String] = []
        if let config, let filePolicy {
            var policy = filePolicy
            if let database {
                do { policy = try filePolicy.merging(database, warn: { warnings.append($0) }) } catch {
                    problems.append("the grants in the identity database cannot be read: \(error)")
                }
            }
            warnings += config.warnings(against: policy, pinMap: pinMap)
            if let why = LivenessLoading.forPolicy(policy, locator: global.padModelLocator).problem { warnings.append("liveness: \(why)") }
            let second = SecondModelLoading.load(global: global, metricHead: try? global.metricHead())
            notes.append(second.model.map { "faces decided by dlib and \($0.modelID), fused" } ?? "faces decided by dlib alone: \(second.problem ?? "no second model")")
        }
        let doors = config?.doors.keys.sorted() ?? []
        let report = SiteCheckReport(ok: problems.isEmpty, site: site, problems: problems, warnings: warnings, notes: notes, doors: doors)
        if global.json {
            try Output.json(report)
        } else {
            if report.ok {
                print("OK: \(site) would start: \(doors.count) door\(doors.count == 1 ? "" : "s") (\(doors.joined(separator: ", ")))"
                      + (warnings.isEmpty ? "" : "; \(warnings.count) warning\(warnings.count == 1 ? "" : "s")"))
            } else {
                print("NOT OK: \(site) would not start; \(problems.count) problem\(problems.count == 1 ? "" : "s"):")
                for p in problems { print("  - \(p)") }
            }
            for w in warnings { print("warning: \(w)") }
            for n in notes { print("note: \(n)") }
        }
        if !report.ok { throw ExitCode(2) }
    }
}
