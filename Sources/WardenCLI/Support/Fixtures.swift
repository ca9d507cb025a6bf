import Foundation

/// Where `make setup` puts things in a source checkout.
package enum Checkout {
    /// The checkout root this binary was compiled from.
    package static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Support, WardenCLI, Sources, root
        return url
    }()

    package static var fixtures: URL { root.appendingPathComponent("fixtures/test_images") }
}
