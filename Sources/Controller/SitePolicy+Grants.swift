import Policy
import Storage

extension SitePolicy {
    /// The files' grants plus those made with `warden grant` (or, on a fleet board, at the
    /// server): what the doors decide on, and what `policy explain` shows. A stored grant
    /// naming a zone or schedule the files no longer define is left out (fail secure) and
    /// reported through `warn`.
    public func merging(_ db: WardenDatabase, warn: (String) -> Void) throws -> SitePolicy {
        merging(try db.access.grants(), warn: warn)
    }

    public func merging(_ grants: [AccessGrant], warn: (String) -> Void) -> SitePolicy {
        adding(grants.map { g in
            Grant(stored: g.id!, personID: g.personId, groupName: g.groupName, zone: g.zone, schedule: g.schedule, until: g.until)
        }, warn: warn)
    }
}
