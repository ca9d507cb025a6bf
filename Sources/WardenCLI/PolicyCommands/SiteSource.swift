import CommandSupport
import FleetProtocol
import Foundation
import Policy
import Storage

/// What the site's read commands (`zone list`, `door list`, `group list`, `grant list`,
/// `policy check`, `policy explain`) answer from: this home's policy files and database, or,
/// with `--server`, the policy, groups and grants the fleet server holds. Each command runs
/// the same code on either, so its answer and its `--json` are the same.
struct SiteSource {
    /// The policy files' policy, without the CLI's grants.
    let files: SitePolicy
    /// Groups made in the database (the files may define more), with their members.
    let groupMembers: [String: [Int64]]
    /// Grants made with `warden grant`.
    let grants: [AccessGrant]
    /// Where it came from, for a person reading the answer.
    let origin: String
    /// Finds a person by Warden id, external id or exact name.
    let findPerson: (String) throws -> Person

    static func load(_ global: some ReachesServer, _ policyOption: PolicyOption) throws -> SiteSource {
        if let remote = try global.remoteAdmin() {
            if let dir = policyOption.directory {
                throw CLIError("--policy \(dir) names files on this host, but --server reads the policy published at \(remote.server); give one or the other")
            }
            return try remoteSite(remote)
        }
        let db = try global.openDatabase(readOnly: true)
        var members: [String: [Int64]] = [:]
        for g in try db.access.groups() { members[g.name] = try db.access.members(of: g.name) }
        return SiteSource(files: try policyOption.load(global), groupMembers: members, grants: try db.access.grants(),
                          origin: policyOption.resolve(global), findPerson: { ref in try storage { try db.people.find(ref) } })
    }

    private static func remoteSite(_ remote: RemoteAdmin) throws -> SiteSource {
        let view = try remote.get(AdminSiteView.self, AdminPath.site)
        guard let published = view.policy else {
            throw CLIError("the server at \(remote.server) has no policy yet: publish one with `warden policy publish DIR`")
        }
        let policy: SitePolicy
        do { policy = try PolicyLoader().load(sources: published.files.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }) } catch {
            throw CLIError("the policy published at \(remote.server) (version \(published.version)) does not load here: " + error.description)
        }
        let grants = view.grants.map {
            var g = AccessGrant(personID: $0.personID, groupName: $0.groupName, zone: $0.zone, schedule: $0.schedule, until: $0.until, createdBy: $0.createdBy, at: $0.createdAt)
            g.id = $0.id
            return g
        }
        return SiteSource(files: policy, groupMembers: Dictionary(view.groups.map { ($0.name, $0.members) }, uniquingKeysWith: { a, _ in a }), grants: grants,
                          origin: "\(remote.server) (policy version \(published.version) by \(published.createdBy))",
                          findPerson: { ref in Person(wire: try remote.get(AdminPersonDetail.self, AdminPath.personDetail, query: ["person": ref]).person) })
    }

    /// The files' grants plus the CLI's, as the door decides with.
    func policy(warn: (String) -> Void = { Output.error($0) }) -> SitePolicy { files.merging(grants, warn: warn) }

    func groups(of personID: Int64) -> Set<String> { Set(groupMembers.filter { $0.value.contains(personID) }.keys) }
}
