import FaceKit
import Foundation

/// How a door decides when a second recognition model is installed: each comparison uses
/// every model both sides have, their distances fused into one score (`ScoreFusion`), and
/// a person who holds only dlib templates is decided on dlib alone with dlib's thresholds.
///
/// The fused thresholds follow the dlib thresholds in force: each is set where the fused
/// score's impostor distribution (a normal fit, as dlib's) gives the same nominal
/// false-match rate as the dlib threshold gives under dlib's. So a site that calibrated its
/// dlib thresholds keeps its security level, and the fusion spends its gain on letting the
/// right people in (docs/matching.md).
public struct FusedMatching: Sendable, Equatable, Codable {
    public var fusion: ScoreFusion
    /// The distribution of fused scores of impostor pairs.
    public var fusedImpostors: ImpostorModel

    public init(fusion: ScoreFusion, fusedImpostors: ImpostorModel) { self.fusion = fusion; self.fusedImpostors = fusedImpostors }

    /// The id the audit records for a decision the fusion made.
    public static func decidedBy(_ models: [String]) -> String { "fused:" + models.sorted().joined(separator: "+") }

    /// The fused thresholds equivalent to the dlib ones: the same nominal rates, in the
    /// fused score's units.
    public func thresholds(equivalentTo dlib: MatchThresholds) -> MatchThresholds {
        func same(_ t: Double) -> Double {
            fusedImpostors.mean + fusedImpostors.standardDeviation * (t - dlib.impostors.mean) / dlib.impostors.standardDeviation
        }
        return MatchThresholds(verify: same(dlib.verify), identifyCeiling: same(dlib.identifyCeiling), targetFPIR: dlib.targetFPIR,
                               ambiguityMargin: dlib.ambiguityMargin / dlib.impostors.standardDeviation * fusedImpostors.standardDeviation,
                               impostors: fusedImpostors)
    }

    /// 1:1: the claimant's templates of each model against the probe's embedding of that
    /// model. Fused when both sides have the second model; otherwise dlib's verification as
    /// it stands.
    public func verify(first q1: [Float], second q2: [Float]?, person: Int64, firstGallery: Gallery, secondGallery: Gallery,
                       thresholds dlib: MatchThresholds) -> (verification: Verification, decidedBy: String) {
        let v1 = firstGallery.verify(q1, person: person, using: Verifier(thresholds: dlib))
        guard let q2, let d1 = v1.distance else { return (v1, firstGallery.modelID) }
        let second = secondGallery.templates(of: person)
        guard !second.isEmpty else { return (v1, firstGallery.modelID) }
        let v2 = Verifier(thresholds: dlib).verify(secondGallery.inSpaceForVerify(q2), against: second)
        guard let d2 = v2.distance, let score = fusion.score([firstGallery.modelID: d1, secondGallery.modelID: d2]) else { return (v1, firstGallery.modelID) }
        let t = thresholds(equivalentTo: dlib)
        let threshold = t.verifyThreshold(templates: max(v1.templatesCompared, second.count))
        let v = Verification(match: score <= threshold, distance: score, threshold: threshold, margin: threshold - score, templateID: v1.templateID,
                             templatesCompared: v1.templatesCompared + second.count,
                             expectedFalseMatchRate: t.impostors.falseMatchRate(atThreshold: threshold))
        return (v, Self.decidedBy([firstGallery.modelID, secondGallery.modelID]))
    }

    /// 1:N: the people near the probe in either gallery, each scored on the models they
    /// hold (fused with both, dlib alone otherwise) and ranked by how far inside their own
    /// threshold they are, in impostor standard deviations, so the two kinds of score share
    /// one scale. The best is named only inside its threshold, ahead of the next person by
    /// the ambiguity margin (in the same units), and eligible.
    public func identify(first q1: [Float], second q2: [Float]?, firstGallery g1: Gallery, secondGallery g2: Gallery,
                         thresholds dlib: MatchThresholds, top k: Int = 10, isEligible: (Int64) -> Bool) -> (identification: Identification, decidedBy: [Int64: String]) {
        let people = g1.personCount
        let comparisons = max(people, g1.count)
        let fusedT = thresholds(equivalentTo: dlib)
        let t1 = dlib.identifyThreshold(people: comparisons), tf = fusedT.identifyThreshold(people: comparisons)
        let near1 = g1.search(q1, k: max(2, k), alreadyMatches: dlib.verify)
        let near2 = q2.map { g2.search($0, k: max(2, k)) } ?? []
        var ids: [Int64] = []
        for m in near1 + near2 where !ids.contains(m.personID) { ids.append(m.personID) }
        struct Scored { let match: PersonMatch; let excess: Double; let threshold: Double; let decidedBy: String }
        var scored: [Scored] = []
        for pid in ids {
            let m1 = near1.first { $0.personID == pid } ?? g1.closest(q1, person: pid)
            guard let m1 else { continue }     // no dlib template: not decided without one
            if let q2, let m2 = near2.first(where: { $0.personID == pid }) ?? g2.closest(q2, person: pid),
               let s = fusion.score([g1.modelID: m1.distance, g2.modelID: m2.distance]) {
                scored.append(Scored(match: PersonMatch(personID: pid, templateID: m1.templateID, distance: s),
                                     excess: (s - tf) / fusedT.impostors.standardDeviation, threshold: tf,
                                     decidedBy: Self.decidedBy([g1.modelID, g2.modelID])))
            } else {
                scored.append(Scored(match: m1, excess: (m1.distance - t1) / dlib.impostors.standardDeviation, threshold: t1, decidedBy: g1.modelID))
            }
        }
        scored.sort { $0.excess < $1.excess }
        let marginUnits = dlib.ambiguityMargin / dlib.impostors.standardDeviation
        let outcome: IdentificationOutcome
        let gap = scored.count >= 2 ? scored[1].excess - scored[0].excess : nil
        if let best = scored.first {
            if best.excess > 0 { outcome = .notRecognized(.tooFar) }
            else if let gap, gap < marginUnits { outcome = .notRecognized(.ambiguous) }
            else if !isEligible(best.match.personID) { outcome = .notRecognized(.inactive) }
            else { outcome = .identified(personID: best.match.personID) }
        } else {
            outcome = .notRecognized(.emptyGallery)
        }
        let best = scored.first
        let threshold = best?.threshold ?? t1
        let expected = best?.decidedBy == g1.modelID || best == nil ? dlib : fusedT
        let identification = Identification(outcome: outcome, candidates: scored.prefix(k).map(\.match), threshold: threshold,
                                            ambiguityMargin: marginUnits * (best == nil || best?.decidedBy == g1.modelID ? dlib.impostors.standardDeviation : fusedT.impostors.standardDeviation),
                                            margin: gap.map { $0 * (best?.decidedBy == g1.modelID ? dlib.impostors.standardDeviation : fusedT.impostors.standardDeviation) },
                                            galleryPeople: people, galleryTemplates: g1.count + g2.count,
                                            perComparisonFMR: expected.perComparisonFMR(people: comparisons),
                                            expectedFPIR: expected.expectedFPIR(threshold: threshold, people: comparisons))
        return (identification, Dictionary(scored.map { ($0.match.personID, $0.decidedBy) }, uniquingKeysWith: { a, _ in a }))
    }
}

extension Gallery {
    /// A probe in the gallery's space, for a verification made outside `verify`.
    public func inSpaceForVerify(_ v: [Float]) -> [Float] { inSpace(v) }

    /// One person's closest template to the probe (nil when they hold none).
    public func closest(_ raw: [Float], person: Int64) -> PersonMatch? {
        let q = inSpace(raw)
        return templates(of: person).map { PersonMatch(personID: person, templateID: $0.templateID, distance: DistanceMetric.euclidean.distance(q, $0.vector)) }
            .min { $0.distance < $1.distance }
    }
}
