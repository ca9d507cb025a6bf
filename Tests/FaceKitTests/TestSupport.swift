import FaceKit
import Foundation
import WardenTestSupport
import Testing
import WardenCore

/// Paths into the checkout: the fixtures and models that `make setup` installs, and the
/// shared face set beside the checkout.
enum TestPaths {
    static let root: URL = TestCheckout.root
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

typealias SeededGenerator = SplitMix64
