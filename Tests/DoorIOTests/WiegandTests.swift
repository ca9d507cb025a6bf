import Foundation
import Testing
import WardenCore
@testable import DoorIO

typealias Mix = SplitMix64
extension SplitMix64 { init(s: UInt64) { self.init(seed: s) } }

@Suite("Wiegand")
struct WiegandTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func bitString(_ b: [Bool]) -> String { String(b.map { $0 ? "1" : "0" }) }
    func bits(_ s: String) -> [Bool] { s.map { $0 == "1" } }

    func decodeAll(_ pulses: [WiegandPulse], _ decoder: WiegandDecoder = WiegandDecoder()) -> [WiegandRead] {
        var d = decoder
        var out = pulses.compactMap { d.feed($0) }
        if let last = pulses.last, let r = d.poll(now: last.at.addingTimeInterval(1)) { out.append(r) }
        return out
    }

    @Test func h10301KnownVector() {
        // Facility 90, card 324: a published 26-bit example.
        let b = WiegandFormat.h10301.encode(facility: 90, card: 324)!
        #expect(bitString(b) == "00101101000000001010001000")
        #expect(decodeAll(WiegandFormat.pulses(b, start: t0)) == [.card(format: "H10301", facility: 90, card: 324)])
    }

    @Test(arguments: WiegandFormat.standard)
    func randomCardsRoundTripWithJitter(_ f: WiegandFormat) {
        var rng = Mix(s: UInt64(f.length))
        for _ in 0..<300 {
            let fc = Int.random(in: 0..<(1 << f.facility.length), using: &rng)
            let cn = Int64.random(in: 0..<(Int64(1) << f.card.length), using: &rng)
            let b = f.encode(facility: fc, card: cn)!
            var t = t0
            let pulses = b.map { bit -> WiegandPulse in
                t = t.addingTimeInterval(Double.random(in: 0.0008...0.003, using: &rng))  // reader timing jitter
                return WiegandPulse(line: bit ? .d1 : .d0, at: t)
            }
            #expect(decodeAll(pulses) == [.card(format: f.name, facility: fc, card: cn)])
        }
    }

    /// Every single flipped bit, in every format, is caught: a reject, never a wrong card.
    @Test(arguments: WiegandFormat.standard)
    func everySingleBitErrorIsRejected(_ f: WiegandFormat) {
        let b = f.encode(facility: (1 << f.facility.length) / 3, card: (Int64(1) << f.card.length) / 5)!
        for i in b.indices {
            var bad = b
            bad[i].toggle()
            let r = decodeAll(WiegandFormat.pulses(bad, start: t0))
            #expect(r.count == 1)
            guard case .rejected(let reason, let n) = r.first else { Issue.record("bit \(i) flip of \(f.name) decoded as \(r)"); continue }
            #expect(n == f.length && reason.contains("parity"))
        }
    }

    @Test func corporate1000ParitiesAreTheDocumentedOnes() {
        let f = WiegandFormat.corporate1000
        let b = f.encode(facility: 4095, card: 1)!
        // Overall odd parity: the whole frame has an odd number of ones.
        #expect(b.filter { $0 }.count % 2 == 1)
        #expect(f.decode(b).map { $0.facility } == .success(4095))
    }

    @Test func wrongLengthsAndHalfFramesAreRejected() {
        let full = WiegandFormat.h10301.encode(facility: 12, card: 345)!
        for n in [1, 13, 25, 27, 33, 36, 38] {
            let frame = n <= full.count ? Array(full.prefix(n)) : full + [Bool](repeating: false, count: n - full.count)
            let r = decodeAll(WiegandFormat.pulses(frame, start: t0))
            guard case .rejected(_, let bits) = r.first else { Issue.record("\(n) bits decoded: \(r)"); continue }
            #expect(bits == n)
        }
    }

    @Test func noiseRejectsTheWholeFrame() {
        var pulses = WiegandFormat.pulses(WiegandFormat.h10301.encode(facility: 1, card: 2)!, start: t0)
        // A glitch 50 microseconds after a real pulse.
        pulses.insert(WiegandPulse(line: .d1, at: pulses[10].at.addingTimeInterval(0.00005)), at: 11)
        let r = decodeAll(pulses)
        guard case .rejected(let reason, _) = r.first else { Issue.record("noise decoded: \(r)"); return }
        #expect(reason.contains("noise"))
        // And a stuck line (a flood of pulses) is rejected, not taken as 64 bits of card.
        let flood = (0..<200).map { WiegandPulse(line: .d0, at: t0.addingTimeInterval(Double($0) * 0.001)) }
        #expect(decodeAll(flood).allSatisfy { if case .rejected = $0 { return true }; return false })
    }

    @Test func framesAreSeparatedByTheGap() {
        let a = WiegandFormat.pulses(WiegandFormat.h10301.encode(facility: 1, card: 100)!, start: t0)
        let b = WiegandFormat.pulses(WiegandFormat.h10304.encode(facility: 2, card: 200)!, start: t0.addingTimeInterval(0.2))
        #expect(decodeAll(a + b) == [.card(format: "H10301", facility: 1, card: 100), .card(format: "H10304", facility: 2, card: 200)])
        // Inside the gap, nothing is final yet.
        var d = WiegandDecoder()
        for p in a { _ = d.feed(p) }
        #expect(d.poll(now: a.last!.at.addingTimeInterval(0.01)) == nil)
        #expect(d.frameDeadline == a.last!.at.addingTimeInterval(0.025))
    }

    @Test func aUserDefinedFormatFromYAML() throws {
        let map = try PinMap.parse("""
        doors:
          d: {relay: {chip: c, line: 0}, wiegand: {d0: {chip: c, line: 1}, d1: {chip: c, line: 2}, formats: [ACME-32]}}
        wiegand_formats:
          - name: ACME-32
            length: 32
            facility: {start: 1, length: 10}
            card: {start: 11, length: 20}
            parity:
              - {bit: 0, kind: even, covers: "1-15"}
              - {bit: 31, kind: odd, covers: "16-30"}
        """)
        let f = try #require(map.formats(for: "d").first)
        #expect(f.name == "ACME-32" && map.formats(for: "d").count == 1)
        let b = f.encode(facility: 1000, card: 999_999)!
        #expect(decodeAll(WiegandFormat.pulses(b, start: t0), WiegandDecoder(formats: [f])) == [.card(format: "ACME-32", facility: 1000, card: 999_999)])
        #expect(throws: PinMap.LoadError.self) {
            try PinMap.parse("doors: {}\nwiegand_formats:\n  - {name: X, length: 8, facility: {start: 0, length: 4}, card: {start: 4, length: 8}, parity: []}\n")
        }
    }
}
