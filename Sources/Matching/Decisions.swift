import Foundation

/// Why a 1:N search did not name anyone.
public enum NotRecognizedReason: String, Sendable, Codable, Equatable {
    /// Nobody is enrolled.
    case emptyGallery = "empty_gallery"
    /// The nearest person is further than the 1:N threshold.
    case tooFar = "too_far"
    /// The nearest two people are too close to tell apart.
    case ambiguous = "ambiguous"
    /// The nearest person is suspended or outside their validity window.
    case inactive = "inactive"
}

public enum IdentificationOutcome: Sendable, Equatable {
    case identified(personID: Int64)
    case notRecognized(NotRecognizedReason)
}

/// The answer to "who is this?", with the evidence behind it.
public struct Identification: Sendable, Equatable {
    public let outcome: IdentificationOutcome
    /// The nearest people, nearest first.
    public let candidates: [PersonMatch]
    public let threshold: Double
    public let ambiguityMargin: Double
    /// Distance from the best to the next different person (nil with fewer than two).
    public let margin: Double?
    public let galleryPeople: Int
    public let galleryTemplates: Int
    /// Per-comparison false-match rate the threshold was chosen for.
    public let perComparisonFMR: Double
    /// Expected chance that a stranger is matched to someone at this threshold and size.
    public let expectedFPIR: Double
}

/// 1:N open-set identification: names a person only on strong, unambiguous evidence.
public struct Identifier: Sendable {
    public var thresholds: MatchThresholds
    public init(thresholds: MatchThresholds = .default) { self.thresholds = thresholds }

    /// `isEligible` says whether a person may be named (active and within validity).
    public func identify(_ query: [Float], in gallery: Gallery, top k: Int = 10,
                         isEligible: (Int64) -> Bool) -> Identification {
        let people = gallery.personCount
        let candidates = gallery.search(query, k: max(2, k), alreadyMatches: thresholds.verify)
        // Every template is a chance for a stranger to match, not only every person: a
        // gallery with several templates per person holds FPIR with the stricter threshold
        // its template count gives (measured: docs/accuracy.md, "Several templates").
        let comparisons = max(people, gallery.count)
        let threshold = thresholds.identifyThreshold(people: comparisons)
        let margin = candidates.count >= 2 ? candidates[1].distance - candidates[0].distance : nil
        let outcome: IdentificationOutcome
        if let best = candidates.first {
            if best.distance > threshold {
                outcome = .notRecognized(.tooFar)
            } else if let margin, margin < thresholds.ambiguityMargin {
                outcome = .notRecognized(.ambiguous)
            } else if !isEligible(best.personID) {
                // Never fall through to the next person: that would label a face as someone
                // it resembles less.
                outcome = .notRecognized(.inactive)
            } else {
                outcome = .identified(personID: best.personID)
            }
        } else {
            outcome = .notRecognized(.emptyGallery)
        }
        return Identification(outcome: outcome, candidates: Array(candidates.prefix(k)), threshold: threshold,
                              ambiguityMargin: thresholds.ambiguityMargin, margin: margin,
                              galleryPeople: people, galleryTemplates: gallery.count,
                              perComparisonFMR: thresholds.perComparisonFMR(people: comparisons),
                              expectedFPIR: thresholds.expectedFPIR(threshold: threshold, people: comparisons))
    }
}

/// The answer to "is this the badge holder?".
public struct Verification: Sendable, Equatable {
    public let match: Bool
    /// Distance to the person's closest template (nil when they have none).
    public let distance: Double?
    public let threshold: Double
    /// threshold − distance: positive means inside the threshold by that much.
    public let margin: Double?
    public let templateID: Int64?
    public let templatesCompared: Int
    public let expectedFalseMatchRate: Double
}

/// 1:1 verification against one person's templates.
public struct Verifier: Sendable {
    public var thresholds: MatchThresholds
    public init(thresholds: MatchThresholds = .default) { self.thresholds = thresholds }

    public func verify(_ query: [Float], against templates: [(templateID: Int64, vector: [Float])]) -> Verification {
        var best: (Int64, Double)? = nil
        for t in templates {
            let d = query.withUnsafeBufferPointer { q in t.vector.withUnsafeBufferPointer { v in
                Gallery.distance(fromDot: DotProduct.unit128(q.baseAddress!, v.baseAddress!)) } }
            if best == nil || d < best!.1 { best = (t.templateID, d) }
        }
        // The claimant's best of several templates: each is a chance for an impostor, so
        // the threshold is lowered until the per-person false-match rate is one template's.
        let threshold = thresholds.verifyThreshold(templates: templates.count)
        return Verification(match: best.map { $0.1 <= threshold } ?? false, distance: best?.1, threshold: threshold,
                            margin: best.map { threshold - $0.1 }, templateID: best?.0, templatesCompared: templates.count,
                            expectedFalseMatchRate: thresholds.impostors.falseMatchRate(atThreshold: threshold))
    }
}
