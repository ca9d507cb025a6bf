import Controller
import Foundation
import Testing

/// `warden run --check`: what a start would find, without starting, touching a door or
/// writing anything; beside a running controller too.
@Suite("warden run --check")
struct RunCheckTests {
    static func site(_ dir: URL, doors: String) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("site.yaml").path
        try """
        policy: \(CLI.root.appendingPathComponent("policies/example").path)
        pinmap: \(CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        gpio: simulated
        doors:
        \(doors)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aSiteThatWouldStartIsOKAndWhatWouldNotWorkIsAWarning() throws {
        let home = CLI.Home()
        // The server room needs badge+face and has no camera; the lobby's camera is a device
        // that is not there.
        let site = try Self.site(home.url.appendingPathComponent("site"), doors: "  lobby:\n    camera: {device: /dev/no-such-video}\n  server-room: {}\n")
        let r = try CLI.run(["run", "--site", site, "--check"], home: home)
        #expect(r.status == 0 && r.stdout.hasPrefix("OK: ") && r.stdout.contains("2 doors (lobby, server-room)"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("warning: door server-room needs a face (badge+face) but has no camera"))
        #expect(r.stdout.contains("warning: door lobby: camera device /dev/no-such-video does not exist now"))
        // It wrote nothing: a new home stays without a database or a log.
        #expect(!FileManager.default.fileExists(atPath: home.url.appendingPathComponent("identity.sqlite").path))
        #expect(!FileManager.default.fileExists(atPath: home.url.appendingPathComponent("audit.sqlite").path))
        let j = try #require(try CLI.run(["run", "--site", site, "--check", "--json"], home: home).json() as? [String: Any])
        #expect(j["ok"] as? Bool == true && (j["doors"] as? [String]) == ["lobby", "server-room"])
        #expect((j["warnings"] as? [String])?.contains { $0.hasPrefix("door server-room needs a face") } == true)
    }

    @Test func aSiteThatWouldNotStartSaysWhyAndExits2() throws {
        let home = CLI.Home()
        let site = try Self.site(home.url.appendingPathComponent("site"), doors: "  front: {}\n")
        let r = try CLI.run(["run", "--site", site, "--check"], home: home)
        #expect(r.status == 2 && r.stdout.hasPrefix("NOT OK: "), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("door 'front'") && r.stdout.contains("lobby"), "names the door and the ones there are: \(r.stdout)")
        let j = try #require(try CLI.run(["run", "--site", site, "--check", "--json"], home: home).json() as? [String: Any])
        #expect(j["ok"] as? Bool == false && ((j["problems"] as? [String])?.count ?? 0) >= 1)
    }

    /// An interlock whose doors are not all on this controller holds the ones that are: the
    /// check says so before anyone finds a door that never opens.
    @Test func anInterlockSplitAcrossControllersIsAWarning() throws {
        let home = CLI.Home()
        let policy = home.url.appendingPathComponent("policy")
        try FileManager.default.copyItem(at: CLI.root.appendingPathComponent("policies/example"), to: policy)
        try "interlocks: [{id: airlock, doors: [lobby, office]}]\n".write(to: policy.appendingPathComponent("interlocks.yaml"), atomically: true, encoding: .utf8)
        let site = try Self.site(home.url.appendingPathComponent("site"), doors: "  lobby: {}\n")
        let text = try String(contentsOfFile: site, encoding: .utf8).replacingOccurrences(of: CLI.root.appendingPathComponent("policies/example").path, with: policy.path)
        try text.write(toFile: site, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "--site", site, "--check"], home: home)
        #expect(r.status == 0 && r.stdout.contains("warning: interlock airlock: door office is not run by") && r.stdout.contains("so lobby will never release"),
                "\(r.stdout) \(r.stderr)")
    }

    /// A running controller holds the home; a check reads only, so it runs beside it.
    @Test func aCheckRunsBesideARunningController() throws {
        let home = CLI.Home()
        #expect(try CLI.run(["person", "add", "Ada"], home: home).status == 0)
        let site = try Self.site(home.url.appendingPathComponent("site"), doors: "  office: {}\n")
        let lock = try HomeLock.acquire(home: home.path)
        defer { lock.release() }
        let held = try CLI.run(["run", "--site", site, "--duration", "1"], home: home)
        #expect(held.status == 2, "a second controller is refused: \(held.stderr)")
        let r = try CLI.run(["run", "--site", site, "--check"], home: home)
        #expect(r.status == 0 && r.stdout.contains("1 door (office)"), "\(r.stdout) \(r.stderr)")
    }

    /// A door the policy and the wiring disagree on would start out of service: said first.
    @Test func aFailModeTheWiringContradictsIsAWarning() throws {
        let home = CLI.Home()
        let dir = home.url.appendingPathComponent("site")
        let site = try Self.site(dir, doors: "  office: {}\n")
        // The example policy's office is fail-secure; this copy of the pin map wires it fail-safe.
        let original = try String(contentsOf: CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml"), encoding: .utf8)
        let rewired = try #require(Self.rewire(original, door: "office", to: "safe"))
        let pinMap = dir.appendingPathComponent("pinmap.yaml").path
        try rewired.write(toFile: pinMap, atomically: true, encoding: .utf8)
        var text = try String(contentsOfFile: site, encoding: .utf8)
        text = text.replacingOccurrences(of: CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path, with: pinMap)
        try text.write(toFile: site, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "--site", site, "--check"], home: home)
        #expect(r.status == 0 && r.stdout.contains("warning: door office would stay out of service: the policy says fail-secure but the pin map wires it fail-safe"),
                "\(r.stdout) \(r.stderr)")
    }

    /// The pin map with `door`'s fail_mode set to `mode` (added when the door has none).
    static func rewire(_ yaml: String, door: String, to mode: String) -> String? {
        var lines = yaml.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: "  \(door):") else { return nil }
        var i = start + 1
        while i < lines.count, lines[i].hasPrefix("    ") || lines[i].isEmpty {
            if lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("fail_mode:") { lines[i] = "    fail_mode: \(mode)"; return lines.joined(separator: "\n") }
            i += 1
        }
        lines.insert("    fail_mode: \(mode)", at: start + 1)
        return lines.joined(separator: "\n")
    }

    /// The shipped examples fit together: the example site file, the example policy and each
    /// Raspberry Pi pin map, as docs/operations.md installs them, check OK with no door out
    /// of service or unusable (the camera devices and PAD models are absent on a build host).
    @Test(arguments: ["raspberry-pi-relay-hat.yaml", "osdp-rs485.yaml"])
    func theShippedExamplesFitTogether(pinMap: String) throws {
        let home = CLI.Home()
        let example = try String(contentsOf: CLI.root.appendingPathComponent("hardware/site.example.yaml"), encoding: .utf8)
        let site = example
            .replacingOccurrences(of: "policy: /var/lib/warden/policies", with: "policy: \(CLI.root.appendingPathComponent("policies/example").path)")
            .replacingOccurrences(of: "pinmap: /etc/warden/pinmap.yaml", with: "pinmap: \(CLI.root.appendingPathComponent("hardware/pinmaps/\(pinMap)").path)")
        #expect(site != example)
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        let path = home.url.appendingPathComponent("site.yaml").path
        try site.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", "--site", path, "--check", "--json"], home: home)
        let j = try #require(try r.json() as? [String: Any], "\(r.stdout) \(r.stderr)")
        #expect(j["ok"] as? Bool == true, "\(j["problems"] ?? [])")
        let warnings = j["warnings"] as? [String] ?? []
        #expect(!warnings.contains { $0.contains("needs a face") || $0.contains("would stay out of service") }, "\(warnings)")
        #expect((j["doors"] as? [String]) == ["lobby", "server-room"])
    }
}
