import Foundation
import Matching
import PresentationAttack

/// What one tracked face has shown so far, and how its votes add up. Pure.
///
/// Every frame votes, weighted by its face quality. A frame that was embedded ("fresh")
/// votes its own result; a frame not worth embedding (no better than the last embedded one)
/// repeats the track's last result. Only fresh votes can make up the `framesRequired`
/// agreeing frames, so one lucky embedding repeated never opens a door; and while the fresh
/// votes disagree, every frame is embedded (the door asks the pipeline for evidence), so a
/// doubtful case is settled by new looks rather than by repeats.
public struct TrackEvidence {
    public struct Vote<Answer: Hashable>: Equatable {
        public var answer: Answer
        public var fresh: Bool
        public var weight: Double
    }
    /// 1:N: who each frame named (nil: nobody).
    public var identified: [Vote<Int64?>] = []
    /// 1:1 against a badge holder: whether each frame matched.
    public var verified: [Vote<Bool>] = []
    /// Why the last embedded frame named nobody, if it did not.
    public var lastMiss: NotRecognizedReason?
    public var decided = false
    /// When a denial was decided: a face still in view is looked at again after the
    /// cooldown (someone just enrolled, or a schedule that has opened).
    public var deniedAt: Date?
    /// A track's denials count once toward the reader lockout, however long it stays.
    public var countedFailure = false
    /// The first embedding of the track: a face far from it is someone else who stepped
    /// into the same place, and starts fresh evidence.
    public var reference: [Float]?
    /// Which models decided the track's last embedded frame (dlib's alone, or fused).
    public var decidedBy: String?
    /// Presentation-attack scores of the fresh frames.
    public var liveness = LivenessEvidence()
    public var livenessProblem: String?

    public init(countedFailure: Bool = false, reference: [Float]? = nil) {
        self.countedFailure = countedFailure; self.reference = reference
    }

    /// The share of the quality-weighted votes a decision needs: a few good frames outweigh
    /// a lucky poor one.
    public static let weightedMajority = 2.0 / 3.0

    /// Where a track's votes stand.
    public enum Standing: Equatable {
        /// Not enough yet.
        case open
        /// `framesRequired` fresh votes agree, holding a weighted majority. For 1:N, on
        /// `person`; for 1:1, on a match.
        case agreed(person: Int64?)
        /// `maximumFrames` seen without agreement.
        case exhausted
    }

    /// Adds a 1:1 vote: `match` for an embedded frame, or the last vote repeated (nil) for
    /// a frame not embedded. False: nothing to repeat yet, no vote.
    @discardableResult
    public mutating func verify(match: Bool?, weight: Double) -> Bool {
        if let match { verified.append(Vote(answer: match, fresh: true, weight: weight)); return true }
        guard let previous = verified.last else { return false }
        verified.append(Vote(answer: previous.answer, fresh: false, weight: weight))
        return true
    }

    /// Adds a 1:N vote: who an embedded frame named (`.some(nil)`: nobody), or the last vote
    /// repeated (nil) for a frame not embedded. False: nothing to repeat yet, no vote.
    @discardableResult
    public mutating func identify(named: Int64??, weight: Double) -> Bool {
        if let named { identified.append(Vote(answer: named, fresh: true, weight: weight)); return true }
        guard let previous = identified.last else { return false }
        identified.append(Vote(answer: previous.answer, fresh: false, weight: weight))
        return true
    }

    /// The fresh 1:1 votes disagree: more looks are wanted.
    public var verificationInDoubt: Bool { Set(verified.filter(\.fresh).map(\.answer)).count > 1 }
    /// The fresh 1:N votes disagree.
    public var identificationInDoubt: Bool { Set(identified.filter(\.fresh).map(\.answer)).count > 1 }

    public var matchedFrames: Int { verified.filter(\.answer).count }
    /// Frames that named someone.
    public var namedFrames: Int { identified.filter { $0.answer != nil }.count }

    public func verification(framesRequired: Int, maximumFrames: Int) -> Standing {
        let matched = verified.filter(\.answer)
        let share = matched.map(\.weight).reduce(0, +) / max(1e-9, verified.map(\.weight).reduce(0, +))
        if matched.filter(\.fresh).count >= framesRequired && share >= Self.weightedMajority { return .agreed(person: nil) }
        return verified.count >= maximumFrames ? .exhausted : .open
    }

    /// The person named most (by weighted share), if anyone was.
    public var leader: (person: Int64, freshFrames: Int, share: Double)? {
        let total = max(1e-9, identified.map(\.weight).reduce(0, +))
        var byPerson: [Int64: [Vote<Int64?>]] = [:]
        for v in identified { if let p = v.answer { byPerson[p, default: []].append(v) } }
        return byPerson.map { (person: $0.key, freshFrames: $0.value.filter(\.fresh).count, share: $0.value.map(\.weight).reduce(0, +) / total) }
            .max { ($0.share, $1.person) < ($1.share, $0.person) }
    }

    public func identification(framesRequired: Int, maximumFrames: Int) -> Standing {
        if let best = leader, best.freshFrames >= framesRequired, best.share >= Self.weightedMajority { return .agreed(person: best.person) }
        return identified.count >= maximumFrames ? .exhausted : .open
    }
}
