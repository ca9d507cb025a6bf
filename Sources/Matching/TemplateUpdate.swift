import FaceKit
import Foundation

/// Template update (off by default, per site): after a confident grant, the face just seen
/// may become one more template of that person, so templates keep up as a face changes
/// (as Suprema's "template update" does). The rule is pure; the door loop applies it.
///
/// Why an impostor cannot drift a template toward themselves: an update needs the face to
/// be well inside the threshold of the person's **enrolled** templates (those an admin
/// enrolled), never of an added one. A near miss adds nothing, and added templates never
/// anchor further ones, so no chain of updates can walk a template away: however many
/// there are, every added template lies within `threshold - margin` of an enrolled one,
/// and only someone who already matched the enrolled templates confidently can add one.
public struct TemplateUpdateRule: Sendable, Equatable {
    public var enabled: Bool
    /// Added templates kept per person; past it, the oldest added one is replaced.
    public var maximumAdded: Int
    /// How far inside the 1:1 threshold the face must be, against the enrolled templates.
    public var margin: Double
    /// At most one update per person in this long.
    public var interval: TimeInterval
    /// A face this close to a template the person has adds nothing.
    public static let nearDuplicate = 0.05
    /// Who added a template, in the store and the audit log.
    public static let creator = "warden:template-update"

    public init(enabled: Bool = false, maximumAdded: Int = 3, margin: Double = 0.10, interval: TimeInterval = 86_400) {
        self.enabled = enabled; self.maximumAdded = maximumAdded; self.margin = margin; self.interval = interval
    }

    public struct Added: Sendable, Equatable {
        public var templateID: Int64
        public var vector: [Float]
        public var at: Date
        public init(templateID: Int64, vector: [Float], at: Date) { self.templateID = templateID; self.vector = vector; self.at = at }
    }

    public enum Decision: Sendable, Equatable {
        /// Add the face; `replacing` the oldest added template when the person has the most.
        case add(replacing: Int64?, distance: Double)
        case skip(String)
    }

    /// `enrolled`: the person's admin-enrolled templates; `added`: those added by updates.
    /// `live`: presentation-attack detection said live; `badgeMatched`: nil at a door
    /// without a badge, else whether the badge was this person's and the face verified.
    public func decide(probe: [Float], enrolled: [[Float]], added: [Added], now: Date, threshold: Double,
                       live: Bool, badgeMatched: Bool?) -> Decision {
        guard enabled else { return .skip("template update is off") }
        guard live else { return .skip("liveness was not confirmed live") }
        if badgeMatched == false { return .skip("the badge did not match") }
        guard let d = enrolled.map({ DistanceMetric.euclidean.distance(probe, $0) }).min() else {
            return .skip("the person has no enrolled template to anchor an update")
        }
        guard d <= threshold - margin else {
            return .skip(String(format: "not confident: %.3f from the enrolled templates, an update needs %.3f or less", d, threshold - margin))
        }
        if let last = added.map(\.at).max(), now.timeIntervalSince(last) < interval { return .skip("already updated in the last \(Int(interval / 3600)) h") }
        let nearest = (enrolled + added.map(\.vector)).map { DistanceMetric.euclidean.distance(probe, $0) }.min() ?? .infinity
        guard nearest >= Self.nearDuplicate else { return .skip(String(format: "adds nothing: %.3f from a template the person has", nearest)) }
        let replacing = added.count >= maximumAdded ? added.min { $0.at < $1.at }?.templateID : nil
        return .add(replacing: replacing, distance: d)
    }
}
