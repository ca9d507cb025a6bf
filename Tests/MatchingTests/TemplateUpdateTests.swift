import FaceKit
import Foundation
import Testing
@testable import Matching

/// Template update's rule, and why an impostor cannot drift a template toward themselves.
struct TemplateUpdateTests {
    /// A unit vector at `distance` from e0 toward axis `toward` (in the plane of e0 and it).
    static func at(_ distance: Double, toward axis: Int = 1, from base: Int = 0) -> [Float] {
        let angle = 2 * asin(distance / 2)
        var v = [Float](repeating: 0, count: 128)
        v[base] = Float(cos(angle)); v[axis] = Float(sin(angle))
        return v
    }
    let rule = TemplateUpdateRule(enabled: true, maximumAdded: 2, margin: 0.10, interval: 86_400)
    let day0 = Date(timeIntervalSince1970: 1_796_000_000)
    let t = 0.41

    @Test func onlyAConfidentLiveMatchAddsAndAtMostOnceADay() {
        let enrolled = [Self.at(0)]
        func d(_ probe: [Float], live: Bool = true, badge: Bool? = nil, added: [TemplateUpdateRule.Added] = [], now: Date? = nil) -> TemplateUpdateRule.Decision {
            rule.decide(probe: probe, enrolled: enrolled, added: added, now: now ?? day0, threshold: t, live: live, badgeMatched: badge)
        }
        guard case .add(nil, _) = d(Self.at(0.25)) else { Issue.record("a confident live match adds"); return }
        #expect(d(Self.at(0.35)) == .skip("not confident: 0.350 from the enrolled templates, an update needs 0.310 or less"), "a near miss adds nothing")
        #expect(d(Self.at(0.25), live: false) == .skip("liveness was not confirmed live"))
        #expect(d(Self.at(0.25), badge: false) == .skip("the badge did not match"))
        #expect(d(Self.at(0.02)).isSkip, "a near duplicate adds nothing")
        let one = TemplateUpdateRule.Added(templateID: 7, vector: Self.at(0.2, toward: 2), at: day0)
        #expect(d(Self.at(0.25), added: [one], now: day0.addingTimeInterval(3600)).isSkip, "once a day")
        guard case .add(nil, _) = d(Self.at(0.25), added: [one], now: day0.addingTimeInterval(86_400)) else { Issue.record("the next day adds"); return }
        let two = TemplateUpdateRule.Added(templateID: 8, vector: Self.at(0.2, toward: 3), at: day0.addingTimeInterval(86_400))
        guard case .add(replacing: 7?, _) = d(Self.at(0.25), added: [one, two], now: day0.addingTimeInterval(2 * 86_400)) else {
            Issue.record("past the maximum, the oldest added template is replaced"); return
        }
        #expect(TemplateUpdateRule().decide(probe: Self.at(0.1), enrolled: enrolled, added: [], now: day0, threshold: t, live: true, badgeMatched: nil).isSkip,
                "off by default")
    }

    /// An impostor walks their face from the enrolled person's toward their own, a little
    /// each day, and is granted whenever any template matches. Every update is anchored to
    /// the enrolled template and every added template may decide only for a probe that
    /// already matches the enrolled one, so at the end the impostor's own face is refused,
    /// by 1:1 and by 1:N; without those two rules, the walk would have got there.
    @Test func anImpostorCannotDriftATemplateTowardThemselves() throws {
        var gallery = Gallery()
        try gallery.add(templateID: 1, personID: 1, unitVector: Self.at(0))
        try gallery.add(templateID: 100, personID: 2, unitVector: Self.at(0.9, toward: 5))   // someone else, so 1:N has two people
        var added: [TemplateUpdateRule.Added] = []
        let verifier = Verifier(thresholds: .default)
        var nextID: Int64 = 2
        var now = day0
        // The impostor's face is 0.60 from the enrolled one; the walk goes there in 0.02 steps.
        for step in 1...30 {
            let probe = Self.at(0.02 * Double(step))
            now = now.addingTimeInterval(86_400)
            guard gallery.verify(probe, person: 1, using: verifier).match else { continue }
            if case .add(let replacing, _) = rule.decide(probe: probe, enrolled: [Self.at(0)], added: added, now: now, threshold: t, live: true, badgeMatched: true) {
                try gallery.add(templateID: nextID, personID: 1, unitVector: probe)
                gallery.markAdded(templateID: nextID)
                added.append(.init(templateID: nextID, vector: probe, at: now))
                if let r = replacing { gallery.remove(templateID: r); added.removeAll { $0.templateID == r } }
                nextID += 1
            }
        }
        #expect(!added.isEmpty, "genuine-looking steps did update")
        for a in added { #expect(DistanceMetric.euclidean.distance(a.vector, Self.at(0)) <= t - rule.margin + 1e-6, "every added template stays anchored") }
        let impostor = Self.at(0.60)
        #expect(!gallery.verify(impostor, person: 1, using: verifier).match, "1:1: the impostor's own face is refused")
        let id = Identifier(thresholds: .default).identify(impostor, in: gallery) { _ in true }
        #expect(id.outcome != .identified(personID: 1), "1:N: the impostor is not named")
        // The counterfactual: the nearest added template is within the plain threshold of
        // the impostor's face, so without the gate an added template would have matched.
        let nearest = added.map { DistanceMetric.euclidean.distance($0.vector, impostor) }.min() ?? 2
        #expect(nearest <= t, "the walk did reach within \(nearest) of the impostor: the gate is what refuses them")
        // And a probe that already matches the enrolled template is helped by an added one.
        let near = Self.at(0.38)
        #expect(gallery.verify(near, person: 1, using: verifier).distance! < 0.38, "an added template decides for a probe that already matched")
    }
}

extension TemplateUpdateRule.Decision {
    var isSkip: Bool { if case .skip = self { return true } else { return false } }
}
