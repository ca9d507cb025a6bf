import FaceKit
import Foundation
import Testing

/// Paths into the checkout: the fixtures and models that `make setup` installs, and the
/// shared face set beside the checkout.
enum TestPaths {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()
    static let fixtures = root.appendingPathComponent("fixtures/test_images")
    static let models = root.appendingPathComponent("models")
    static let sharedFaces = root.appendingPathComponent("../shared/faces").standardized

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    static var haveFixtures: Bool { FileManager.default.fileExists(atPath: fixture("obama.jpg")) }
    static var haveModels: Bool { FileManager.default.fileExists(atPath: models.appendingPathComponent(ModelFile.recognition.rawValue).path) }
    static var haveSharedFaces: Bool { FileManager.default.fileExists(atPath: sharedFaces.appendingPathComponent("README.md").path) }
}

/// One engine for the whole test process: loading the network takes a second, and the
/// tests that use it are serialised (the engine is single-threaded by design).
enum SharedEngine {
    static let lock = NSLock()
    nonisolated(unsafe) private static var engine: FaceEngine?

    static func with<R>(_ body: (FaceEngine) throws -> R) throws -> R {
        lock.lock(); defer { lock.unlock() }
        if engine == nil { engine = try FaceEngine(models: ModelSet(directory: TestPaths.models.path)) }
        return try body(engine!)
    }
}

extension Trait where Self == ConditionTrait {
    static var needsModelsAndFixtures: Self {
        .enabled(if: TestPaths.haveFixtures && TestPaths.haveModels, "needs the models and fixtures from `make setup`")
    }
    static var needsSharedFaces: Self {
        .enabled(if: TestPaths.haveSharedFaces, "needs ../shared/faces (the internal face set); absent here, so skipped")
    }
}

/// A small deterministic generator (SplitMix64) so randomised tests replay exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
