import Audit
import FaceKit
import FleetLink
import FleetProtocol
import FleetServer
import Foundation
import Testing
import WardenCore
import WebConsole

/// The console in a real browser (headless Chromium through chromedriver) against a real
/// server on a private PostgreSQL, with a controller joined over mutual TLS that uploads
/// its decisions as a board does. Screenshots of every page go to
/// .cache/test/console-screens/ (look at them after a change to a page).
@Suite(.serialized, .enabled(if: WebDriver.missing == nil, "\(WebDriver.missing ?? "")"))
struct WebConsoleBrowserTests {
    static let screens = FleetBoardProcessTests.root.appendingPathComponent(".cache/test/console-screens")
    static let fixtures = FleetBoardProcessTests.root.appendingPathComponent("fixtures/test_images")
    static let password = "correct horse battery staple"

    /// A decision as a door controller records it: the person, the factors, the face's
    /// distance and liveness, the rule and the reasons.
    static func granted(_ person: PersonRecordWire, door: String) -> AuditEvent {
        AuditEvent(kind: .decision, type: "access.granted", door: door, zone: "office-floor", badge: "12:4242", personID: person.id, personName: person.displayName,
                   result: "granted", factors: [FactorResult(factor: "badge", ok: true), FactorResult(factor: "face", ok: true)],
                   face: FaceEvidence(distance: 0.312, threshold: 0.41, margin: 0.098, quality: 0.9, frames: 3, modelID: "dlib_resnet_v1",
                                      liveness: LivenessEvidenceRecord(verdict: "live", required: true, scores: [0.97, 0.95], framesRequired: 2, threshold: 0.8)),
                   rule: "staff-office", reasons: [], doorAction: "released 4s")
    }

    /// Signs in from the page a signed-out visitor of the console is sent to, and waits
    /// for the live board's stream.
    static func signIn(_ browser: WebDriver, at site: String, as name: String) async throws {
        try await browser.open(site + "/console")
        try await browser.wait("the sign-in page") { try await browser.url.hasSuffix("/console/login") }
        try await browser.screenshot("01-login")
        try await browser.type("input[name=name]", name)
        try await browser.type("input[name=password]", Self.password)
        try await browser.click("#login button[type=submit]")
        try await browser.wait("the live board") { try await browser.text("#live") == "live" }
    }

    @Test func anAdminEnrollsGrantsWatchesADecisionAcknowledgesAnAlarmAndExports() async throws {
        let h = try FleetHarness()
        try await h.startServer(enrollment: ServerEnrollment(engine: try FaceEngine(locator: ModelLocator())), extensions: [WebConsole()])
        let files = try ExamplePolicy.files()
        try await h.central { store in
            let admin = Operator("test-admin")
            _ = try await store.putConfiguration(.policy, files: files, by: admin)
            _ = try await store.addOperator("ana", role: .admin, by: admin)
            try await store.setConsolePassword("ana", password: Self.password, by: admin)
        }
        let board = try await h.joinedController("door-1")
        let browser = try await offThePool { try WebDriver(screenshots: Self.screens.appendingPathComponent("admin-flow")) }
        defer { browser.quit() }
        try await h.whileRunning {
            let site = h.url

            // Sign in.
            try await Self.signIn(browser, at: site, as: "ana")
            try await browser.screenshot("02-board-empty")

            // Add a person, then enroll them from a photo; a photo that cannot be enrolled shows why.
            try await browser.open(site + "/console/people")
            try await browser.type("#add-person input[name=name]", "Barack Obama")
            try await browser.type("#add-person input[name=external_id]", "P1")
            try await browser.click("#add-person button[type=submit]")
            try await browser.wait("the person's page") { try await browser.text("#person-name") == "Barack Obama" }
            // A photo too small to enroll: the face is well under 40 px between the eyes.
            let small = h.root + "/obama-small.jpg"
            let scaled = try await ChildProcess.output(["/usr/bin/ffmpeg", "-loglevel", "error", "-nostdin", "-y", "-i", Self.fixtures.appendingPathComponent("obama.jpg").path,
                                                        "-vf", "scale=160:-1", small])
            #expect(scaled.status == 0, "\(scaled.stderr)")
            try await browser.attach("#enroll input[name=photo]", file: small)
            try await browser.click("#enroll button[type=submit]")
            try await browser.wait("the rejection") { try await browser.text("#enroll-result").contains("Rejected") }
            let rejection = try await browser.text("#enroll-result")
            #expect(rejection.split(separator: "\n").count >= 2, "the reason is shown on the photo: \(rejection)")
            #expect(try await browser.script("return document.getElementById('enroll-preview').className") as? String == "rejected")
            try await browser.screenshot("03-enroll-rejected")
            try await browser.attach("#enroll input[name=photo]", file: Self.fixtures.appendingPathComponent("obama.jpg").path)
            try await browser.click("#enroll button[type=submit]")
            // The script's caption says so, and so does the page it reloads to (a loaded
            // machine's WebDriver can take longer than the caption's 1.5 s to look).
            try await browser.wait("the enrollment") {
                let caption = (try? await browser.text("#enroll-result")) ?? ""
                let notice = (try? await browser.text("main")) ?? ""
                return caption.contains("Enrolled") || notice.contains("Enrolled (template #")
            }
            try await browser.screenshot("04-enrolled")
            try await browser.wait("the page to show the template") { try await browser.text("main").contains("1 template") }
            let person = try await h.central { try await $0.findPerson("P1") }
            let detail = try await h.central { try await $0.personDetail("P1") }
            #expect(detail.templates.count == 1)

            // Grant the office floor, and ask the explain view.
            try await browser.open(site + "/console/access")
            try await browser.type("#grant input[name=person]", "P1")
            try await browser.select("#grant select[name=zone]", "office-floor")
            try await browser.click("#grant button[type=submit]")
            try await browser.wait("the grant") { try await browser.text(".notice").contains("Grant #") }
            #expect(try await h.central { try await $0.siteView() }.grants.map(\.zone) == ["office-floor"])
            try await browser.type("#explain input[name=person]", "P1")
            try await browser.select("#explain select[name=door]", "office")
            try await browser.type("#explain input[name=at]", "2026-12-02 10:00")
            try await browser.click("#explain button[type=submit]")
            try await browser.wait("the explanation") { try await browser.text("#explanation").hasPrefix("ALLOW") }
            try await browser.screenshot("05-access-explained")
            try await browser.type("#explain input[name=person]", "P1")
            try await browser.select("#explain select[name=door]", "server-room")
            try await browser.click("#explain button[type=submit]")
            try await browser.wait("the refusal") { try await browser.text("#explanation").hasPrefix("DENY") }
            #expect(try await browser.text("#explanation").contains("no grant lets this person into this zone"))

            // The board live: a decision arrives as the controller uploads it.
            try await browser.open(site + "/console")
            try await browser.wait("the live stream") { try await browser.text("#live") == "live" }
            try board.audit.append([Self.granted(person, door: "office"), AuditEvent(kind: .door, type: "door.released", door: "office")])
            try await board.drain()
            try await browser.wait("the decision on the board") { try await browser.text("#events").contains("Barack Obama") }
            let decision = try await browser.text("#events li.granted")
            for shown in ["Barack Obama", "face ok", "badge ok", "distance 0.312", "liveness live", "office"] {
                #expect(decision.contains(shown), "\(shown) missing from: \(decision)")
            }
            try await browser.wait("the door's state") { try await browser.text(".door[data-door=office] .state") == "released" }
            try await browser.screenshot("06-board-decision")

            // An alarm sounds, and is acknowledged with a comment.
            try board.audit.append([AuditEvent(kind: .door, type: "door.forced_open", door: "office")])
            try await board.drain()
            try await browser.wait("the alarm") { try await browser.findAll("#alarms li").count == 1 }
            try await browser.wait("the door in alarm") { try await browser.text(".door[data-door=office] .state") == "forced" }
            try await browser.screenshot("07-board-alarm")
            try await browser.type("#alarms li form input[name=comment]", "Guard checked: door was kicked, strike replaced")
            try await browser.click("#alarms li form button")
            try await browser.wait("the acknowledgement") { try await browser.text(".notice").contains("acknowledged") }
            #expect(try await browser.findAll("#alarms li").isEmpty)
            try await browser.screenshot("08-board-acknowledged")
            let acks = try await h.central { store in
                var out: [AuditEvent] = []
                try await store.forEachEvent(controller: "@server") { _, row in
                    if case .success(let e) = AuditChain.checked(row), e.type == ConsoleFeed.acknowledgedType { out.append(e) }
                }
                return out
            }
            #expect(acks.count == 1 && acks.first?.operator == "ana" && acks.first?.detail?["comment"] == "Guard checked: door was kicked, strike replaced")

            // Audit: filtered to the door, exported as CSV through the page's own link.
            try await browser.open(site + "/console/audit?door=office")
            try await browser.wait("the audit rows") { try await browser.findAll(".events-table tbody tr").count == 3 }
            try await browser.click("#verify")
            try await browser.wait("the chains verified") { try await browser.text("main").contains("verified: every row present") }
            try await browser.screenshot("09-audit")
            let csv = try await browser.asyncScript("""
                const done = arguments[arguments.length - 1];
                fetch(document.getElementById('export-csv').href, {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done('failed: ' + e));
                """) as? String ?? ""
            let lines = csv.split(whereSeparator: \.isNewline)
            #expect(lines.count == 4, "a header and three rows: \(csv.prefix(500))")
            #expect(lines.first?.hasPrefix("controller,seq,") == true && csv.contains("access.granted") && csv.contains("door.forced_open") && csv.contains("door-1"))
            #expect(!csv.contains("@server"), "the export keeps the page's filter (door=office) after the chains were verified")

            // Controllers: a join token made on the page lets a board join; the page revokes it.
            try await browser.open(site + "/console/controllers")
            try await browser.type("form[action='/console/controllers/token'] input[name=name]", "door-2")
            try await browser.click("form[action='/console/controllers/token'] button")
            try await browser.wait("the join token") { try await browser.text("#join-token").contains("warden fleet join") }
            let shown = try await browser.text("#join-token pre")
            let token = try #require(shown.components(separatedBy: "--token ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
            let home2 = h.root + "/door-2"
            try FileManager.default.createDirectory(atPath: home2, withIntermediateDirectories: true)
            _ = try await FleetMembership.join(server: site, token: token, home: home2, wardenVersion: "test")
            try await browser.open(site + "/console/controllers")
            try await browser.wait("the new board listed") { try await browser.text("main").contains("door-2") }
            // Joined but never heard from (no heartbeat yet): not shown as online.
            #expect(try await browser.text("tr:has(input[name=name][value='door-2'])").contains("never heard from"))
            try await browser.screenshot("10-controllers")
            try await browser.click("tr:has(input[name=name][value='door-2']) input[name=confirm]")
            try await browser.click("tr:has(input[name=name][value='door-2']) form button")
            try await browser.wait("the revocation") { try await browser.text(".notice").contains("revoked") }
            #expect(try await h.central { try await $0.controllers() }.first { $0.name == "door-2" }?.status == "revoked")

            // A guard's tablet or phone: the board fits the width, nothing scrolls sideways.
            try await browser.resize(width: 390, height: 844)
            try await browser.open(site + "/console")
            try await browser.wait("the board at phone width") { try await browser.text("#live") == "live" }
            #expect(try await browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1") as? Bool == true)
            try await browser.screenshot("11-board-phone")
            for page in ["people", "access", "audit", "controllers"] {
                try await browser.open(site + "/console/" + page)
                #expect(try await browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1") as? Bool == true, "\(page) scrolls sideways at phone width")
                try await browser.screenshot("12-\(page)-phone")
            }
        }
    }

    /// An enroller on a person's page sends a capture to the lobby's camera (a board running
    /// `warden run` on an image folder of that person) and sees it through to the templates.
    @Test(.enabled(if: FleetCameraEnrollTests.ready, "needs ../shared/faces and the models from `make setup`"))
    func anEnrollerCapturesAtADoorCameraFromThePersonsPage() async throws {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole()])
        let person = try await h.central { store in
            let admin = Operator("test-admin")
            _ = try await store.addOperator("eve", role: .enroller, by: admin)
            try await store.setConsolePassword("eve", password: Self.password, by: admin)
            return try await store.addPerson(name: "Barack Obama", externalID: "P1", validFrom: nil, validUntil: nil, by: admin)
        }
        let (_, run) = try await FleetCameraEnrollTests.gateBoard(h)
        defer { run.kill(SIGTERM); _ = run.wait() }
        let browser = try await offThePool { try WebDriver(screenshots: Self.screens.appendingPathComponent("camera-capture")) }
        defer { browser.quit() }
        try await h.whileRunning {
            try await Self.signIn(browser, at: h.url, as: "eve")
            try await browser.open(h.url + "/console/people/\(person.id)")
            try await browser.select("#capture select[name=door]", "lobby")
            try await browser.click("#capture button")
            try await browser.wait("the capture to start") { try await !browser.text("#capture-status").hasPrefix("Sending") }
            try await browser.screenshot("02-capturing")
            try await browser.wait("the capture's end", attempts: 1200) {
                let t = try await browser.text("#capture-status")
                return t.hasPrefix("Enrolled") || t.hasPrefix("Not enrolled")
            }
            let outcome = try await browser.text("#capture-status")
            #expect(outcome.hasPrefix("Enrolled") && outcome.contains("lobby (gate)"), "\(outcome)")
            try await browser.screenshot("03-enrolled")
            let stored = try await h.central { try await $0.personDetail("P1").templates }
            #expect(stored.count >= 2 && stored.allSatisfy { $0.createdBy == "eve" && $0.sourceName.hasPrefix("camera door lobby at controller gate") }, "\(stored.map(\.sourceName))")
            try await browser.wait("the page to show the templates") { try await browser.text("main").contains("\(stored.count) templates") }
            // The board first: its long polls would hold the server's graceful shutdown.
            run.kill(SIGTERM)
            #expect(run.wait().status == 0)
        }
    }

    /// What an attacker's page or a hostile name does in a real browser: nothing runs.
    @Test func aScriptInAPersonsNameIsShownAsTextAndNeverRuns() async throws {
        let h = try FleetHarness()
        try await h.startServer(extensions: [WebConsole()])
        let hostile = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>"
        let person = try await h.central { store in
            let admin = Operator("test-admin")
            _ = try await store.addOperator("ana", role: .admin, by: admin)
            try await store.setConsolePassword("ana", password: Self.password, by: admin)
            return try await store.addPerson(name: hostile, externalID: nil, validFrom: nil, validUntil: nil, by: admin)
        }
        let board = try await h.joinedController("door-1")
        let browser = try await offThePool { try WebDriver(screenshots: Self.screens.appendingPathComponent("hostile-name")) }
        defer { browser.quit() }
        try await h.whileRunning {
            try await Self.signIn(browser, at: h.url, as: "ana")
            // Through the live stream (the page's script builds the entry) and on the person's page.
            try board.audit.append([Self.granted(person, door: "office")])
            try await board.drain()
            try await browser.wait("the decision") { try await browser.text("#events").contains("window.pwned") }
            #expect(try await browser.script("return window.pwned === undefined") as? Bool == true)
            #expect(try await browser.findAll("#events img").isEmpty)
            try await browser.open(h.url + "/console/people/\(person.id)")
            try await browser.wait("the person's page") { try await browser.text("#person-name") == hostile }
            #expect(try await browser.script("return window.pwned === undefined") as? Bool == true)
            try await browser.screenshot("person")
        }
    }
}
