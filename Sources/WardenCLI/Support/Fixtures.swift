import Foundation

/// Where `make setup` puts things in a source checkout.
enum Checkout {
    /// The checkout root this binary was compiled from.
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support, WardenCLI, Sources, root
        return url
    }()

    static var fixtures: URL { root.appendingPathComponent("fixtures/test_images") }
}
