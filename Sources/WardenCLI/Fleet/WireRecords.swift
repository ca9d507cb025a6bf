import FleetProtocol
import Storage
import WardenCore

/// The server's records as the local ones, so a command prints the same whether it ran
/// here or at the server.
extension Person {
    init(wire w: PersonRecordWire) {
        self.init(displayName: w.displayName, externalID: w.externalID, status: PersonStatus(stored: w.status),
                  validFrom: w.validFrom, validUntil: w.validUntil, at: w.createdAt)
        id = w.id
        updatedAt = w.updatedAt
    }
}

extension Badge {
    init(wire w: BadgeRecordWire) {
        self.init(id: w.id, personId: w.personID, format: w.format, facilityCode: w.facilityCode, cardNumber: w.cardNumber,
                  status: BadgeStatus(rawValue: w.status) ?? .revoked, issuedAt: w.issuedAt, revokedAt: w.revokedAt)
    }
}
