import Foundation
import Policy
import PresentationAttack

/// Loads the PAD detector for a site whose policy may require liveness somewhere.
public enum LivenessLoading {
    /// `doors`: those that may require liveness; `problem`: why the detector is missing.
    public static func forPolicy(_ policy: SitePolicy, locator: PADModelLocator) -> (detector: LivenessDetector?, problem: String?, doors: [String]) {
        let engine = PolicyEngine(policy: policy)
        let doors = policy.doors.values.filter(engine.mayRequireLiveness).map(\.id).sorted()
        guard !doors.isEmpty else { return (nil, nil, doors) }
        do { return (try LivenessDetector(locator: locator), nil, doors) } catch {
            return (nil, "doors \(doors.joined(separator: ", ")) require liveness, and it cannot run: \(error.description)", doors)
        }
    }
}
