import Policy
import Storage

extension Person {
    /// What the policy engine needs to know about a person on this board (the door loop's
    /// decisions and the CLI's explain read it the same way).
    public func facts(groups: Set<String>) -> PersonFacts {
        PersonFacts(id: id!, name: displayName, status: status, groups: groups, validFrom: validFrom, validUntil: validUntil)
    }
}
