import Foundation

/// Where things are, for every test target: the checkout, what `make setup` installs into it
/// (models, fixture photos), and the shared data beside it. Found from this file's own path,
/// in one place (it was written out again in ten test files).
public enum TestCheckout {
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// A path inside the checkout.
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The unit-test photos `make setup` extracts (face_recognition 1.3.0's).
    public static let fixtures = root.appendingPathComponent("fixtures/test_images")
    public static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
    public static var haveFixtures: Bool { FileManager.default.fileExists(atPath: fixture("obama.jpg")) }
    /// dlib's model files, as `make setup` installs them.
    public static let models = root.appendingPathComponent("models")
    /// `../shared`: the photos, models and presentation-attack samples beside the checkout.
    public static let sharedFaces = root.appendingPathComponent("../shared/faces").standardized
    public static let sharedModels = root.appendingPathComponent("../shared/models").standardized
    public static let sharedPAD = root.appendingPathComponent("../shared/pad").standardized

    public static func padSample(_ name: String) -> String { sharedPAD.appendingPathComponent(name).path }
    /// Whether the presentation-attack samples and these model files (the MiniFASNet pair,
    /// by name) are beside the checkout: one answer for every test target, which had three.
    public static func havePAD(models: [String]) -> Bool {
        models.allSatisfy { FileManager.default.fileExists(atPath: sharedModels.appendingPathComponent($0).path) }
            && FileManager.default.fileExists(atPath: padSample("image_F1.jpg"))
    }
}
