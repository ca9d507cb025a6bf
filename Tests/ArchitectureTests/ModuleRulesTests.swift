import Foundation
import Testing
import WardenTestSupport

/// The rules of docs/architecture.md's "What each module may import", checked on the
/// package's own description (`swift package dump-package`), so that a dependency that
/// breaks one fails `make test` instead of drifting in.
@Suite("module rules")
struct ModuleRulesTests {
    /// Each target's direct dependencies: targets by name, and products as "product:NAME".
    static let graph: [String: (type: String, dependencies: [String])] = {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("warden-dump-package-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A scratch path of its own: `swift test` holds the checkout's .build.
        p.arguments = ["swift", "package", "--package-path", TestCheckout.root.path, "--scratch-path", scratch, "dump-package"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return [:] }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let targets = json["targets"] as? [[String: Any]] else { return [:] }
        var graph: [String: (type: String, dependencies: [String])] = [:]
        for t in targets {
            guard let name = t["name"] as? String, let type = t["type"] as? String else { continue }
            let deps = (t["dependencies"] as? [[String: Any]] ?? []).compactMap { d -> String? in
                if let n = (d["byName"] as? [Any])?.first as? String { return n }
                if let n = (d["target"] as? [Any])?.first as? String { return n }
                if let n = (d["product"] as? [Any])?.first as? String { return "product:" + n }
                return nil
            }
            graph[name] = (type, deps)
        }
        return graph
    }()

    /// Everything `target` links, directly or not.
    static func closure(_ target: String) -> Set<String> {
        var seen: Set<String> = [], stack = [target]
        while let t = stack.popLast() {
            for d in graph[t]?.dependencies ?? [] where seen.insert(d).inserted { stack.append(d) }
        }
        return seen
    }

    static let rigs: Set<String> = ["PrivateServers", "IntegrationsEmbedded", "ControllerEmbedded", "WardenTestSupport", "OSDPTestPeer"]

    @Test func thePackageDescriptionIsRead() {
        #expect(Self.graph["warden"]?.type == "executable" && Self.graph.count > 40, "`swift package dump-package` gave \(Self.graph.count) targets")
    }

    /// Test rigs and in-memory twins are linked by tests, and by the two benchmark commands
    /// that start private servers; no shipping library imports them.
    @Test func testRigsStayOutOfShippingLibraries() {
        #expect(Self.graph["PrivateServers"] != nil && Self.graph["WardenCLI"] != nil, "the package description was not read")
        let benchCommands: Set<String> = ["WardenLab", "WardenServerCLI"]
        for (name, t) in Self.graph where t.type != "test" && !Self.rigs.contains(name) {
            let used = Set(t.dependencies).intersection(Self.rigs)
            let allowed: Set<String> = benchCommands.contains(name) ? ["PrivateServers"] : []
            #expect(used.subtracting(allowed).isEmpty, "\(name) imports \(used.subtracting(allowed).sorted())")
        }
    }

    /// The door's binary carries no lab, no server and no server-side network stack.
    @Test func theDoorBinaryLinksNoLabAndNoServer() {
        let linked = Self.closure("warden")
        let forbidden: Set<String> = ["WardenLab", "MatchingLab", "FleetServer", "WebConsole", "WardenServerCLI", "CFreeType",
                                      "product:PostgresNIO", "product:Hummingbird", "product:NIOPosix"]
        #expect(linked.contains("Controller"))
        #expect(linked.intersection(forbidden).isEmpty, "warden links \(linked.intersection(forbidden).sorted())")
        #expect(linked.intersection(Self.rigs).isEmpty, "warden links \(linked.intersection(Self.rigs).sorted())")
    }

    /// The server's binary carries none of the board: no door loop, no GPIO, no cameras, no
    /// readers, no board CLI.
    @Test func theServerBinaryLinksNoBoard() {
        let linked = Self.closure("warden-server")
        let board: Set<String> = ["WardenCLI", "Board", "Controller", "DoorIO", "CGPIOD", "Capture", "CV4L2", "OSDP", "CLibOSDP", "WardenLab"]
        #expect(linked.contains("FleetServer"))
        #expect(linked.intersection(board).isEmpty, "warden-server links \(linked.intersection(board).sorted())")
    }

    /// The pure core: value types and decisions with no storage, network or devices.
    @Test func theCoreImportsNoAdapters() {
        let core = Self.graph["WardenCore"]?.dependencies ?? ["(missing)"]
        #expect(core.isEmpty, "WardenCore imports \(core)")
        let policy = Set(Self.graph["Policy"]?.dependencies ?? ["(missing)"])
        let allowed: Set<String> = ["WardenCore", "product:Yams"]
        #expect(policy.isSubset(of: allowed), "Policy imports \(policy.subtracting(allowed).sorted())")
        let matching = Self.closure("Matching")
        #expect(matching.intersection(["Storage", "Audit", "product:GRDB", "DoorIO", "Capture"]).isEmpty, "Matching links \(matching.sorted())")
    }
}
