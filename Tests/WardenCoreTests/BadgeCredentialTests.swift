import Testing
import WardenCore

@Suite("Badge credentials")
struct BadgeCredentialTests {
    @Test func parsesFacilityAndNumber() throws {
        let b = try BadgeCredential(parsing: "12:34567")
        #expect(b.facilityCode == 12 && b.cardNumber == 34567 && b.format == .h10301)
        #expect(b.description == "12:34567")
        #expect(try BadgeCredential(parsing: " 0 : 0 ").cardNumber == 0)
    }

    @Test(arguments: ["", ":", "12", "12:", ":5", "a:1", "1:b", "1:2:3", "-1:5", "1:-5", "1.5:2", "12:3456789012345678901234", "１２:3"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: BadgeCredentialError.self) { try BadgeCredential(parsing: text) }
    }

    @Test func enforcesEachFormatsFieldWidths() throws {
        #expect(throws: BadgeCredentialError.facilityOutOfRange(256, format: .h10301)) { try BadgeCredential(parsing: "256:1") }
        #expect(throws: BadgeCredentialError.cardNumberOutOfRange(65536, format: .h10301)) { try BadgeCredential(parsing: "1:65536") }
        #expect(try BadgeCredential(parsing: "65535:524287", format: .h10304).cardNumber == 524287)
        #expect(throws: BadgeCredentialError.self) { try BadgeCredential(parsing: "1:524288", format: .h10304) }
        #expect(try BadgeCredential(parsing: "4095:1048575", format: .corporate1000).facilityCode == 4095)
        #expect(throws: BadgeCredentialError.self) { try BadgeCredential(parsing: "4096:1", format: .corporate1000) }
    }

    @Test func randomCredentialsRoundTripThroughText() throws {
        var rng = SystemRandomNumberGenerator()
        for format in BadgeFormat.allCases {
            for _ in 0..<200 {
                let b = try BadgeCredential(format: format, facilityCode: Int.random(in: 0...format.maxFacilityCode, using: &rng),
                                            cardNumber: Int64.random(in: 0...format.maxCardNumber, using: &rng))
                #expect(try BadgeCredential(parsing: b.description, format: format) == b)
            }
        }
    }
}
