import Foundation
import Testing

/// `warden backup` and `warden restore` as an integrator runs them: a board's home and site
/// files into one archive, and onto a new card.
@Suite("warden backup / restore")
struct BackupCommandTests {
    @Test func aBoardComesBackOnANewCardWithItsSiteFiles() throws {
        let board = CLI.Home(), newCard = CLI.Home()
        #expect(try CLI.run(["person", "add", "Ada", "--external-id", "E1001"], home: board).status == 0)
        #expect(try CLI.run(["badge", "issue", "E1001", "12:1001"], home: board).status == 0)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("warden-backup-cli-\(UUID())")
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let site = work.appendingPathComponent("site.yaml").path
        try """
        policy: \(CLI.root.appendingPathComponent("policies/example").path)
        pinmap: \(CLI.root.appendingPathComponent("hardware/pinmaps/gpio-sim.yaml").path)
        gpio: simulated
        doors:
          office: {}
        """.write(toFile: site, atomically: true, encoding: .utf8)
        let archive = work.appendingPathComponent("board.wbk").path, key = work.appendingPathComponent("backup.key").path

        let backup = try CLI.run(["backup", "--to", archive, "--site", site, "--new-key-file", key, "--json"], home: board)
        #expect(backup.status == 0, "\(backup.stderr)")
        let files = try #require((try backup.json() as? [String: Any])?["files"] as? [String])
        #expect(files.contains("identity.sqlite") && files.contains("keys/template.key") && files.contains("site/policy/doors.yaml"))

        let etc = work.appendingPathComponent("etc").path
        let restore = try CLI.run(["restore", archive, "--key-file", key, "--site-to", etc], home: newCard)
        #expect(restore.status == 0 && restore.stdout.contains("chain verified"), "\(restore.stdout) \(restore.stderr)")
        // The person and the badge are there, and the restored site starts as it did.
        let people = try CLI.run(["person", "list"], home: newCard)
        #expect(people.stdout.contains("Ada") && people.stdout.contains("12:1001"))
        let check = try CLI.run(["run", "--site", etc + "/site.yaml", "--check"], home: newCard)
        #expect(check.status == 0 && check.stdout.hasPrefix("OK: "), "\(check.stdout) \(check.stderr)")
        #expect(try CLI.run(["audit", "verify"], home: newCard).status == 0)

        // The same archive again onto the now-used card: refused, nothing touched.
        let again = try CLI.run(["restore", archive, "--key-file", key, "--json"], home: newCard)
        let error = try #require(try again.json() as? [String: Any])
        #expect(again.status != 0 && (error["error"] as? String)?.contains("--replace-existing") == true)
        // A backup without a key: no terminal, so it says how to give one.
        let noKey = try CLI.run(["backup", "--to", work.appendingPathComponent("b2.wbk").path], home: board)
        #expect(noKey.status != 0 && noKey.stderr.contains("--passphrase-stdin"), "\(noKey.stderr)")
    }
}
