import Foundation
import WardenTestSupport
import Testing

enum CLI {
    static let root: URL = TestCheckout.root
    static let fixtures = root.appendingPathComponent("fixtures/test_images")
    /// Whether make setup installed the second face model (SFace and dlib's 68-point
    /// predictor): enrollment then stores a template of each model.
    static var secondModelInstalled: Bool {
        ["face_recognition_sface_2021dec.onnx", "shape_predictor_68_face_landmarks.dat"].allSatisfy {
            FileManager.default.fileExists(atPath: root.appendingPathComponent("models/\($0)").path)
        }
    }
    static let sharedFaces = root.appendingPathComponent("../shared/faces").standardized
    static var haveFixtures: Bool { FileManager.default.fileExists(atPath: fixtures.appendingPathComponent("obama.jpg").path) }
    static var haveSharedFaces: Bool { FileManager.default.fileExists(atPath: sharedFaces.appendingPathComponent("README.md").path) }

    /// The `warden` binary built beside this test bundle.
    static let binary: URL? = {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        return candidates.map { $0.appendingPathComponent("warden") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
    }

    /// A fresh data directory, removed when the value goes away.
    final class Home {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("warden-home-\(UUID())")
        var path: String { url.path }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    /// Runs `warden` with a fresh temp home so no test sees another's state.
    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Result {
        try run(arguments, home: Home(), environment: extra)
    }

    /// Runs `warden` in a given home, for tests that take several steps.
    static func run(_ arguments: [String], home: Home, environment extra: [String: String] = [:]) throws -> Result {
        let binary = try #require(binary, "the warden executable was not built beside the tests")
        let home = home.url
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home.path
        env.removeValue(forKey: "WARDEN_MODELS")
        for (k, v) in extra { env[k] = v }
        process.environment = env
        // stderr goes to a file and stdout to a pipe read to its end, so a chatty child can
        // never block on a full pipe.
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("warden-stderr-\(UUID())")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errData = (try? Data(contentsOf: errFile)) ?? Data()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A `warden` process left running (for `run`), whose output a test can wait on.
final class RunningWarden {
    let process = Process()
    private let out = Pipe()
    private var seen = ""

    init(_ arguments: [String], home: CLI.Home) throws {
        process.executableURL = try #require(CLI.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_HOME"] = home.path
        process.environment = env
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Reads output until `text` appears (true), the process ends, or time runs out.
    /// Never blocks past the deadline: it polls the pipe before each read. The deadline
    /// only catches a hung controller (it returns as soon as the text appears), so it is
    /// long enough for a sanitizer build on a loaded machine.
    func waitFor(_ text: String, timeout: TimeInterval = 300) -> Bool { waitFor(text, count: 1, timeout: timeout) }

    /// Reads output until `text` has appeared `count` times (true), the process ends, or
    /// time runs out (a bound on a hung controller, as in `waitFor`).
    func waitFor(_ text: String, count: Int, timeout: TimeInterval = 300) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while seen.components(separatedBy: text).count - 1 < count, Date() < deadline {
            let fd = out.fileHandleForReading.fileDescriptor
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 200) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            seen += String(decoding: buf[0..<n], as: UTF8.self)
        }
        return seen.components(separatedBy: text).count - 1 >= count
    }

    var output: String { seen }

    /// SIGTERM, then up to 20 s for a clean exit; a process still running after that is
    /// killed and reported (-1), so a hung controller fails the test instead of hanging it.
    func stop() -> Int32 {
        process.terminate()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return -1 }
        return process.terminationStatus
    }
}

extension Trait where Self == ConditionTrait {
    static var needsFixtures: Self { .enabled(if: CLI.haveFixtures, "needs the fixtures and models from `make setup`") }
    static var needsSharedFaces: Self {
        .enabled(if: CLI.haveSharedFaces, "needs ../shared/faces (the internal face set); absent here, so skipped")
    }
}
