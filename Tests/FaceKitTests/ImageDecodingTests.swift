import CWebP
import FaceKit
import Foundation
import Testing

@Suite("Image decoding")
struct ImageDecodingTests {
    func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture(name)))) }

    @Test(.needsModelsAndFixtures) func decodesRealJPEG() throws {
        let image = try RGBImage(contentsOf: TestPaths.fixture("obama.jpg"))
        #expect(image.width == 910 && image.height == 1137)
        #expect(image.pixels.count == 910 * 1137 * 3)
        // A real photo is not one flat colour.
        #expect(Set(image.pixels.prefix(30_000)).count > 50)
    }

    @Test(.needsModelsAndFixtures) func decodesPNGWithAlpha() throws {
        let image = try RGBImage(contentsOf: TestPaths.fixture("32bit.png"))
        #expect(image.width == 626 && image.height == 1200)
    }

    @Test(.needsModelsAndFixtures) func formatIsSniffedFromContentNotName() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-sniff-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let misnamed = dir.appendingPathComponent("really-a-png.jpg")
        try Data(bytes("32bit.png")).write(to: misnamed)
        let image = try RGBImage(contentsOf: misnamed.path)
        #expect(image.width == 626)
    }

    @Test func pnmVariantsDecodeToTheSamePixels() throws {
        let p6 = Array("P6\n# a comment\n2 1\n255\n".utf8) + [255, 0, 0, 0, 0, 255]
        let p3 = Array("P3 2 1 255\n255 0 0\n0 0 255\n".utf8)
        let p6wide = Array("P6 2 1 65535\n".utf8) + [255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255]
        let expected: [UInt8] = [255, 0, 0, 0, 0, 255]
        for data in [p6, p3, p6wide] {
            let image = try RGBImage(decoding: data)
            #expect(image.width == 2 && image.height == 1)
            #expect(image.pixels == expected)
        }
        let p5 = try RGBImage(decoding: Array("P5 2 1 255\n".utf8) + [10, 200])
        #expect(p5.pixels == [10, 10, 10, 200, 200, 200])
        let p2 = try RGBImage(decoding: Array("P2 2 1 15\n0 15\n".utf8))
        #expect(p2.pixels == [0, 0, 0, 255, 255, 255])
    }

    @Test func pngEncodingRoundTripsExactly() throws {
        var rng = SeededGenerator(seed: 3)
        let img = try RGBImage(width: 37, height: 11, pixels: (0..<(37 * 11 * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let png = try img.pngData()
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        #expect(try RGBImage(decoding: png) == img)
    }

    @Test func ppmRoundTrip() throws {
        var rng = SeededGenerator(seed: 7)
        let pixels = (0..<(5 * 4 * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let image = try RGBImage(width: 5, height: 4, pixels: pixels)
        #expect(try RGBImage(decoding: image.ppmData()) == image)
    }

    @Test func webpDecodes() throws {
        let source = RGBImage(width: 16, height: 8, fill: (10, 120, 240))
        var out: UnsafeMutablePointer<UInt8>? = nil
        let size = source.pixels.withUnsafeBufferPointer { WebPEncodeLosslessRGB($0.baseAddress, 16, 8, 48, &out) }
        defer { WebPFree(out) }
        #expect(size > 0)
        let webp = Array(UnsafeBufferPointer(start: out, count: size))
        #expect(ImageFormat.sniff(webp) == .webp)
        #expect(try RGBImage(decoding: webp) == source)
    }

    @Test(.needsModelsAndFixtures) func jpegRoundTripIsClose() throws {
        let image = try RGBImage(contentsOf: TestPaths.fixture("obama.jpg")).resized(width: 320, height: 400)
        let decoded = try RGBImage(decoding: image.jpegData(quality: 95))
        #expect(decoded.width == 320 && decoded.height == 400)
        var total = 0
        for i in 0..<image.pixels.count { total += abs(Int(image.pixels[i]) - Int(decoded.pixels[i])) }
        #expect(Double(total) / Double(image.pixels.count) < 4.0)
    }

    // MARK: Hostile and broken input: a typed error, never a crash.

    @Test func emptyAndUnknownInputAreRejected() {
        #expect(throws: ImageError.emptyInput) { try RGBImage(decoding: []) }
        #expect { try RGBImage(decoding: Array("hello, world".utf8)) } throws: { error in
            guard case .unknownFormat = error as? ImageError else { return false }
            return "\(error)".contains("not a supported image")
        }
    }

    @Test(.needsModelsAndFixtures) func truncatedJPEGIsRejected() throws {
        let full = try bytes("obama.jpg")
        for fraction in [0.1, 0.5, 0.9] {
            let cut = Array(full.prefix(Int(Double(full.count) * fraction)))
            #expect { try RGBImage(decoding: cut) } throws: { error in
                guard case .corrupt(let format, _) = error as? ImageError else { return false }
                return format == "JPEG"
            }
        }
        // Lenient decoding accepts the same truncated file (grey fill), for tools that want it.
        let cut = Array(full.prefix(full.count * 9 / 10))
        #expect(try RGBImage(decoding: cut, limits: ImageLimits(strict: false)).width == 910)
    }

    @Test(.needsModelsAndFixtures) func truncatedPNGIsRejected() throws {
        let full = try bytes("32bit.png")
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array(full.prefix(full.count / 2))) }
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array(full.prefix(40))) }
    }

    @Test(.needsModelsAndFixtures) func oversizedJPEGHeaderIsRejectedBeforeAllocation() throws {
        var data = try bytes("obama.jpg")
        // Find the start-of-frame marker and claim 60000 x 60000 pixels.
        var i = 2
        while i + 9 < data.count {
            guard data[i] == 0xFF else { i += 1; continue }
            let marker = data[i + 1]
            if (0xC0...0xC2).contains(marker) {
                data[i + 5] = 0xEA; data[i + 6] = 0x60; data[i + 7] = 0xEA; data[i + 8] = 0x60
                break
            }
            i += 2 + (Int(data[i + 2]) << 8 | Int(data[i + 3]))
        }
        #expect(throws: ImageError.tooManyPixels(width: 60000, height: 60000, limit: ImageLimits.default.maxPixels)) {
            try RGBImage(decoding: data)
        }
    }

    @Test func oversizedPNMHeaderIsRejectedBeforeAllocation() {
        #expect(throws: ImageError.tooManyPixels(width: 100_000, height: 100_000, limit: 40_000_000)) {
            try RGBImage(decoding: Array("P6 100000 100000 255\n".utf8))
        }
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array("P6 4 4 255\n".utf8) + [1, 2, 3]) }
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array("P6 4 4 0\n".utf8)) }
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array("P6 x 4 255\n".utf8)) }
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array("P6 99999999999 4 255\n".utf8)) }
        #expect(throws: ImageError.self) { try RGBImage(decoding: Array("P2 1 1 15\n16\n".utf8)) }
    }

    @Test func fileSizeCapIsCheckedBeforeReading() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("warden-big-\(UUID()).ppm")
        try Data(count: 2048).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: ImageError.tooManyBytes(size: 2048, limit: 1024)) {
            try RGBImage(contentsOf: url.path, limits: ImageLimits(maxBytes: 1024))
        }
        #expect { try RGBImage(contentsOf: "/nonexistent/photo.jpg") } throws: { "\($0)".contains("no such file") }
    }

    /// Random corruption of real files: every outcome is an image or an ImageError.
    @Test(.needsModelsAndFixtures) func mutatedFilesNeverCrash() throws {
        var rng = SeededGenerator(seed: 2024)
        let sources = [try bytes("obama.jpg"), try bytes("32bit.png"), Array("P6 3 2 255\n".utf8) + [UInt8](repeating: 9, count: 18)]
        var decoded = 0, rejected = 0
        for round in 0..<150 {
            var data = sources[round % sources.count]
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                let at = Int.random(in: 0..<min(data.count, 2048), using: &rng)
                data[at] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { data = Array(data.prefix(Int.random(in: 0...data.count, using: &rng))) }
            do { _ = try RGBImage(decoding: data); decoded += 1 } catch is ImageError { rejected += 1 }
        }
        #expect(decoded + rejected == 150)
        #expect(rejected > 0)
    }

    @Test func letterboxKeepsAspectAndSize() throws {
        let tall = RGBImage(width: 100, height: 200, fill: (255, 255, 255))
        let boxed = tall.letterboxed(width: 640, height: 480)
        #expect(boxed.width == 640 && boxed.height == 480)
        #expect(boxed[0, 0] == (0, 0, 0))      // padding
        #expect(boxed[320, 240] == (255, 255, 255))  // content
    }
}
