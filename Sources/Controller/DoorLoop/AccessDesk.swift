import Foundation
import Policy

/// The site's policy and its shared state (who stands where, pending two-person and escort
/// authentications, door modes), in one place every door asks. Pure: no I/O. One per site,
/// because one door's decision may depend on another's (a first person waiting for the
/// second at the server room).
public final class AccessDesk {
    public var policy: SitePolicy { didSet { engine = PolicyEngine(policy: policy) } }
    public private(set) var engine: PolicyEngine
    public var state = SiteState()

    public init(policy: SitePolicy) {
        self.policy = policy
        self.engine = PolicyEngine(policy: policy)
    }

    public func door(_ id: String) -> Door? { policy.doors[id] }
    public var timeZone: TimeZone { policy.timeZone }

    /// Decides a request at a door and applies what it changes to the site's state.
    public func decide(_ request: AccessRequest) -> Decision {
        let d = engine.decide(request, state: state)
        state.apply(d.changes)
        return d
    }

    /// Decides a remote command and applies what it changes.
    public func decide(_ request: RemoteRequest) -> Decision {
        let d = engine.decide(request, state: state)
        state.apply(d.changes)
        return d
    }

    public func effectiveMode(_ door: Door, at time: Date) -> DoorMode { engine.effectiveMode(door: door, at: time, state: state) }
}
