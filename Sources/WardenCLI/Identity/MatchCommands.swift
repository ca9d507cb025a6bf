import CommandSupport
import ArgumentParser
import Controller
import FaceKit
import Foundation
import Matching
import Storage
import WardenCore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "1:1: is the face in the photo the holder of this badge (or this person)?",
        discussion: """
        Compares the largest face in the photo with the person's templates and prints the \
        distance, the 1:1 threshold in force and the margin. A revoked or unknown badge, a \
        suspended person, or a person with no templates is a no-match, with the reason.

        Exit status: 0 for an answer (match or not; see --json "match"), 1 for an error.
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Badge as FACILITY:NUMBER.") var badge: String?
    @Option(help: "Badge format.") var format: BadgeFormat = .h10301
    @Option(help: "Person (instead of --badge).") var person: String?
    @Argument(help: "Photo of the face to check.") var photo: String

    struct Result: Codable {
        let match: Bool
        let reason: String?
        let personID: Int64?
        let personName: String?
        let distance: Double?
        let threshold: Double
        let margin: Double?
        let templatesCompared: Int
        let expectedFalseMatchRate: Double
    }

    func validate() throws {
        guard (badge == nil) != (person == nil) else { throw ValidationError("give exactly one of --badge or --person") }
    }

    func run() throws {
        let db = try global.openDatabase(readOnly: true, ownHome: true)
        let thresholds = try global.thresholds()
        let verifier = Verifier(thresholds: thresholds)
        var subject: Person? = nil
        var refusal: String? = nil
        if let badge {
            let credential = try parseBadge(badge, format: format)
            if let b = try db.badges.lookup(credential) {
                subject = try db.people.get(b.personId)
                if b.status == .revoked { refusal = "badge_revoked" }
            } else { refusal = "badge_unknown" }
        } else if let person {
            subject = try storage { try db.people.find(person) }
        }
        if let s = subject, refusal == nil, !s.isEligible(at: Date()) { refusal = s.status == .suspended ? "person_suspended" : "expired" }

        var verification: Verification? = nil
        if refusal == nil, let s = subject {
            let (embedding, _, _) = try probeEmbedding(photo, engine: try global.loadEngine())
            let gallery = try global.loadGallery(db, modelID: embedding.modelID)
            if gallery.templates(of: s.id!).isEmpty { refusal = "no_templates" } else {
                verification = gallery.verify(embedding.values, person: s.id!, using: verifier)
            }
        }
        let result = Result(match: verification?.match ?? false, reason: refusal ?? (verification?.match == true ? nil : "too_far"),
                            personID: subject?.id, personName: subject?.displayName, distance: verification?.distance,
                            threshold: thresholds.verify, margin: verification?.margin, templatesCompared: verification?.templatesCompared ?? 0,
                            expectedFalseMatchRate: thresholds.impostors.falseMatchRate(atThreshold: thresholds.verify))
        if global.json { try Output.json(result); return }
        let who = subject.map { "#\($0.id!) \($0.displayName)" } ?? "nobody"
        if let refusal {
            print("NO MATCH: \(refusal.replacingOccurrences(of: "_", with: " ")) (\(who))")
        } else if let v = verification {
            print(String(format: "%@: %@, distance %.3f %@ threshold %.2f (margin %+.3f, best of %d template(s))",
                         v.match ? "MATCH" : "NO MATCH", who, v.distance!, v.match ? "<=" : ">", v.threshold, v.margin!, v.templatesCompared))
        }
    }
}

struct IdentifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identify",
        abstract: "1:N: who is this? Names someone only on strong, unambiguous evidence.",
        discussion: """
        Searches every enrolled template for the largest face in the photo and lists the \
        nearest people. The answer is "identified" only when the best distance is within the \
        1:N threshold for this gallery size, the next different person is at least the \
        ambiguity margin further, and the person is active; otherwise "not recognized" with \
        the reason (too_far, ambiguous, inactive, empty_gallery).

        The 1:N threshold tightens as more people are enrolled, to hold the expected rate of \
        strangers matched to someone (the FPIR) at the configured target; --json shows the \
        figures. See docs/matching.md.
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "How many nearest people to list.") var top = 10
    @Argument(help: "Photo of the face to identify.") var photo: String

    struct Candidate: Codable { let personID: Int64; let name: String; let status: String; let distance: Double; let templateID: Int64 }
    struct Result: Codable {
        let identified: Bool
        let personID: Int64?
        let personName: String?
        let reason: String?
        let distance: Double?
        let threshold: Double
        let margin: Double?
        let ambiguityMargin: Double
        let galleryPeople: Int
        let galleryTemplates: Int
        let targetFPIR: Double
        let perComparisonFMR: Double
        let expectedFPIR: Double
        let candidates: [Candidate]
    }

    func validate() throws { guard top >= 1 else { throw ValidationError("--top must be at least 1") } }

    func run() throws {
        let db = try global.openDatabase(readOnly: true, ownHome: true)
        let thresholds = try global.thresholds()
        let (embedding, _, _) = try probeEmbedding(photo, engine: try global.loadEngine())
        let gallery = try global.loadGallery(db, modelID: embedding.modelID)
        var people: [Int64: Person] = [:]
        for p in try db.people.list() { people[p.id!] = p }
        let now = Date()
        let id = Identifier(thresholds: thresholds).identify(embedding.values, in: gallery, top: top) { people[$0]?.isEligible(at: now) ?? false }
        var identified: Person? = nil, reason: String? = nil
        switch id.outcome {
        case .identified(let pid): identified = people[pid]
        case .notRecognized(let r): reason = r.rawValue
        }
        let candidates = id.candidates.map {
            Candidate(personID: $0.personID, name: people[$0.personID]?.displayName ?? "?", status: people[$0.personID]?.status.rawValue ?? "?",
                      distance: $0.distance, templateID: $0.templateID)
        }
        let result = Result(identified: identified != nil, personID: identified?.id, personName: identified?.displayName, reason: reason,
                            distance: id.candidates.first?.distance, threshold: id.threshold, margin: id.margin,
                            ambiguityMargin: id.ambiguityMargin, galleryPeople: id.galleryPeople, galleryTemplates: id.galleryTemplates,
                            targetFPIR: thresholds.targetFPIR, perComparisonFMR: id.perComparisonFMR, expectedFPIR: id.expectedFPIR,
                            candidates: candidates)
        if global.json { try Output.json(result); return }
        if let p = identified {
            print(String(format: "IDENTIFIED as #%lld %@ (distance %.3f <= 1:N threshold %.3f, next person %@ further)",
                         p.id!, p.displayName, result.distance!, result.threshold, result.margin.map { String(format: "%.3f", $0) } ?? "none"))
        } else {
            let detail: String
            switch reason {
            case "too_far": detail = String(format: "nearest is %.3f, beyond the 1:N threshold %.3f", result.distance ?? .nan, result.threshold)
            case "ambiguous": detail = String(format: "the nearest two people are only %.3f apart (need %.3f)", result.margin ?? .nan, result.ambiguityMargin)
            case "inactive": detail = "the nearest person is suspended or outside their validity dates"
            default: detail = "nobody is enrolled"
            }
            print("NOT RECOGNIZED: \(detail)")
        }
        print(String(format: "gallery: %d people, %d templates; threshold %.3f holds expected FPIR %.1e (target %.1e)",
                     result.galleryPeople, result.galleryTemplates, result.threshold, result.expectedFPIR, result.targetFPIR))
        for (i, c) in candidates.enumerated() {
            print(String(format: "  %2d. %.3f  #%lld %@%@", i + 1, c.distance, c.personID, c.name, c.status == "active" ? "" : " (\(c.status))"))
        }
    }
}
