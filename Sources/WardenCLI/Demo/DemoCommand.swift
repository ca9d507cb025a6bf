import Board
import CommandSupport
import ArgumentParser
import Audit
import Controller
import DoorIO
import FaceKit
import Foundation
import Policy
import PresentationAttack

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a whole Warden site on simulated hardware and tell its story.",
        discussion: """
        Builds a temporary site from the example policy (a lobby, an office floor, a server \
        room) with SQLite files in a temp folder, simulated GPIO (relays, door contacts, exit \
        buttons, Wiegand readers) and cameras that are shown the fixture photos. It enrolls \
        people from one photo each, plays scenes at the doors on a simulated clock, prints \
        each decision with its reasons as a timeline, and ends with the audit export and \
        verification. Real face engine, real policy engine, real audit log.
        """
    )

    @OptionGroup var global: ModelCommandOptions
    @Option(help: "Folder with obama.jpg, obama2.jpg, obama3.jpg and biden.jpg (default: the fixtures).") var photos: String?
    @Flag(help: "Keep the temporary site folder and print its path.") var keep = false

    func run() throws {
        let folder = photos.map { URL(fileURLWithPath: $0) } ?? Checkout.fixtures
        let photo = { (n: String) in folder.appendingPathComponent(n).path }
        guard FileManager.default.fileExists(atPath: photo("obama.jpg")) else { throw CLIError("no fixture photos in \(folder.path); run `make setup`") }
        let models: ModelSet
        do { models = try global.modelLocator.locate() } catch { throw CLIError(error.description) }
        var policy: SitePolicy
        do { policy = try PolicyLoader().load(directory: Checkout.root.appendingPathComponent("policies/example").path) } catch {
            throw CLIError("the example policy does not load: \(error)")
        }
        // The example requires liveness wherever a face alone opens a door. On a fresh machine
        // the PAD models are absent (no registry ships them): the demo then says so and runs
        // those doors without liveness, rather than with their face factor out of service.
        let liveness = LivenessLoading.forPolicy(policy, locator: global.padModelLocator)
        let withoutLiveness = liveness.detector == nil && liveness.problem != nil
        if withoutLiveness { policy = policy.withLivenessOff() }
        let pinMap = try PinMap.load(path: Checkout.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("warden-demo-\(getpid())").path
        defer { if !keep { try? FileManager.default.removeItem(atPath: home) } }

        // Tuesday 1 December 2026, 08:30 in Berlin: business hours, nobody in yet.
        let start = ISO8601DateFormatter().date(from: "2026-12-01T07:30:00Z")!
        let s = try SimulatedSite(home: home, policy: policy, pinMap: pinMap, models: models, start: start, liveness: liveness.detector)
        let tz = policy.timeZone
        let clock = DateFormatter()
        clock.timeZone = tz
        clock.dateFormat = "HH:mm:ss"
        s.site.onTimeline = { e in print("  \(clock.string(from: e.at))  \(pad("[\(e.door)]", 14)) \(e.text)") }
        func scene(_ title: String) { print("\n\(title)") }
        func at(_ hhmm: String) {
            let f = DateFormatter(); f.timeZone = tz; f.dateFormat = "yyyy-MM-dd HH:mm"
            s.clock.set(f.date(from: "2026-12-01 " + hhmm)!)
        }

        print("Warden demo: \(policy.name) (\(tz.identifier)), doors: \(s.cameras.keys.sorted().joined(separator: ", ")); data in \(home)")
        if withoutLiveness, let why = liveness.problem {
            print("""
            Liveness: NOT CHECKED in this demo. The example policy requires it where a face alone opens a
              door, but \(why.components(separatedBy: "\n").first ?? why).
              So those doors run without it here: a printed photo of an enrolled person could open them.
              `warden pad models` says where each file comes from and its SHA-256; with them installed,
              the demo also shows a print being refused.
            """)
        } else if liveness.detector != nil {
            print("Liveness: required at \(liveness.doors.joined(separator: ", ")); the presentation-attack models are installed.")
        }
        print("Setup: Barack Obama is enrolled from one photo (obama.jpg), in groups staff and it-admins, badge 12:1001.")
        try s.enroll(name: "Barack Obama", photo: photo("obama.jpg"), groups: ["staff", "it-admins"], badge: "12:1001")

        scene("1. 08:30 lobby (face only in business hours): someone who is not enrolled walks up.")
        at("08:30"); try s.show("lobby", photo: photo("biden.jpg"))

        if liveness.detector != nil {
            let printed = Checkout.root.appendingPathComponent("../shared/pad/image_F1.jpg").standardized.path
            if FileManager.default.fileExists(atPath: printed) {
                scene("1b. 08:30 lobby: someone holds a printed photo up to the camera (../shared/pad/image_F1.jpg, a real print).")
                at("08:30"); try s.show("lobby", photo: printed, asCaptured: true)
            } else {
                scene("1b. 08:30 lobby: someone holds a print of Barack Obama's photo up to the camera (a print made up from obama2.jpg).")
                let still = try RGBImage(contentsOf: photo("obama2.jpg"), limits: ImageLimits(strict: false))
                at("08:30"); s.show("lobby", images: (0..<6).map { MadeUpAttack.print.make(from: still, seed: UInt64($0 + 1)) }, name: "print")
            }
        }

        scene("2. 08:31 lobby: Barack Obama walks up (a different photo from the one enrolled). He is the first in,")
        print("   so the lobby goes to free access for business hours.")
        at("08:31"); try s.show("lobby", photo: photo("obama2.jpg"))
        try s.setContact("lobby", open: true); s.run(for: 3); try s.setContact("lobby", open: false)

        scene("3. 09:00 an admin enrolls Joe Biden from one photo (it-admins, badge 12:2002).")
        at("09:00"); try s.enroll(name: "Joe Biden", photo: photo("biden.jpg"), groups: ["it-admins"], badge: "12:2002")
        print("  enrolled #2 Joe Biden")

        scene("4. 10:00 server room (badge+face): Obama swipes 12:1001 and looks at the camera.")
        at("10:00"); try s.swipe("server-room", badge: "12:1001"); try s.show("server-room", photo: photo("obama3.jpg"))
        try s.setContact("server-room", open: true); s.run(for: 2); try s.setContact("server-room", open: false)

        scene("5. 10:05 server room: Obama's badge, but Biden's face.")
        at("10:05"); try s.swipe("server-room", badge: "12:1001"); try s.show("server-room", photo: photo("biden.jpg"))

        scene("6. 22:30 server room after hours: the two-person rule. Obama, then Biden 10 s later.")
        at("22:30"); try s.swipe("server-room", badge: "12:1001"); try s.show("server-room", photo: photo("obama.jpg"))
        s.run(for: 8)
        try s.swipe("server-room", badge: "12:2002"); try s.show("server-room", photo: photo("biden.jpg"))
        try s.setContact("server-room", open: true); s.run(for: 2); try s.setContact("server-room", open: false)

        scene("7. 23:00 server room: the door is pulled open with no grant.")
        at("23:00"); try s.setContact("server-room", open: true); s.run(for: 2); try s.setContact("server-room", open: false)

        scene("8. 23:10 lobby: someone leaves with the exit button and props the door open (held-open time 30 s).")
        at("23:10"); try s.pressExit("lobby"); try s.setContact("lobby", open: true); s.run(for: 35); try s.setContact("lobby", open: false)

        scene("9. 23:20 the fire panel trips: the lobby (fail-safe, an exit route) releases; the server room (fail-secure) stays locked.")
        at("23:20"); try s.setFireAlarm(true); s.run(for: 2); try s.setFireAlarm(false)

        scene("10. Shutdown: relays to their safe state, the audit log flushed.")
        s.finish()
        for (door, pins) in pinMap.doors.sorted(by: { $0.key < $1.key }) {
            guard let relay = pins.relay else { continue }
            print("  \(door): relay line \(s.gpio.level(relay) == true ? "ACTIVE" : "inactive") (fail-\(pins.failMode.rawValue): \(pins.failMode == .secure ? "locked" : "released"))")
        }

        let store = try AuditStore(home: home)
        scene("Audit trail (warden audit export --format csv, decisions only):")
        var shown = 0
        _ = try AuditExporter.export(store, filter: AuditFilter(), format: .csv) { line in
            let f = AuditExporter.parseCSV(line).first ?? []
            if shown == 0 || (f.count > 4 && f[3] == "decision") {
                print("  " + [0, 1, 4, 5, 9, 11, 12, 14, 16].compactMap { $0 < f.count ? f[$0] : nil }.joined(separator: ","))
            }
            shown += 1
        }
        let report = try store.verify()
        print("\nwarden audit verify: \(report.ok ? "OK" : "BROKEN"): \(report.count) events, chain \(report.ok ? "intact" : "broken at row \(report.firstBrokenSeq!)")")
        if keep { print("site kept in \(home)") }
    }
}
