import WardenCLI
import WardenCore
import Foundation

/// A labelled face dataset on disk: one folder per identity, as ../shared/faces. Folders
/// whose names start with "_" hold the shared set's extras (several faces, no face) and are
/// not identities. Benchmarks and `warden eval` all read datasets through this.
struct FaceDataset {
    struct Identity { let name: String; let images: [URL] }

    let root: URL

    /// ../shared/faces beside the checkout.
    static var shared: URL { Checkout.root.appendingPathComponent("../shared/faces").standardized }

    static func isImage(_ name: String) -> Bool {
        ["jpg", "jpeg", "png", "webp", "ppm", "pgm"].contains((name as NSString).pathExtension.lowercased())
    }

    /// Identity folders in name order, each with its images in name order; `skip` leaves
    /// folders out by name.
    func identities(skipping skip: (String) -> Bool = { _ in false }) throws -> [Identity] {
        let fm = FileManager.default
        return try fm.contentsOfDirectory(atPath: root.path).sorted().compactMap { name in
            let dir = root.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard !name.hasPrefix("_"), !skip(name), fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else { return nil }
            let files = ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).filter(Self.isImage).sorted()
            return Identity(name: name, images: files.map { dir.appendingPathComponent($0) })
        }
    }

    /// Images lying directly in the root (a flat folder, such as the fixtures).
    func looseImages() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: root.path).sorted().filter(Self.isImage).map { root.appendingPathComponent($0) }
    }
}
