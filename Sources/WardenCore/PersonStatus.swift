/// Whether a person may be let in at all: the one definition the board's database, the fleet
/// wire and the policy engine share. On the wire it is its raw text; text that is not a known
/// status reads as `suspended` (fail secure).
public enum PersonStatus: String, Codable, Sendable, CaseIterable {
    case active, suspended

    /// A status as the wire or a database row spells it; anything unknown is `suspended`.
    public init(stored text: String) { self = PersonStatus(rawValue: text) ?? .suspended }
}
