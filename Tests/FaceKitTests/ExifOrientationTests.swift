import Testing
@testable import FaceKit

@Suite("EXIF orientation")
struct ExifOrientationTests {
    /// A JPEG with an APP1 "Exif" segment carrying `orientation` spliced in after SOI.
    static func jpeg(_ image: RGBImage, orientation: UInt16?, bigEndian: Bool = false, tiff: [UInt8]? = nil) throws -> [UInt8] {
        let plain = try image.jpegData(quality: 95)
        func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) -> [UInt8] { bigEndian ? [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
                                                     : [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        var t = tiff ?? []
        if tiff == nil, let orientation {
            t = (bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]) + u16(42) + u32(8)
            t += u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0] + u32(0)
        }
        let payload: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0] + t
        let length = payload.count + 2
        return [0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + Array(plain.dropFirst(2))
    }

    /// 4x2, left half red, right half blue: easy to follow through a turn.
    static let picture: RGBImage = {
        var px: [UInt8] = []
        for _ in 0..<2 { for x in 0..<4 { px += x < 2 ? [250, 0, 0] : [0, 0, 250] } }
        return try! RGBImage(width: 4, height: 2, pixels: px)
    }()

    func isRed(_ img: RGBImage, _ x: Int, _ y: Int) -> Bool { img.pixels[(y * img.width + x) * 3] > 128 }

    @Test func orientationSixTurnsThePictureUpright() throws {
        for bigEndian in [false, true] {
            let img = try RGBImage(decoding: Self.jpeg(Self.picture, orientation: 6, bigEndian: bigEndian))
            #expect(img.width == 2 && img.height == 4)
            // Turned 90 degrees clockwise: the red left half is now the top.
            #expect(isRed(img, 0, 0) && isRed(img, 1, 1) && !isRed(img, 0, 3) && !isRed(img, 1, 2))
        }
    }

    @Test func everyOrientationKeepsThePixels() throws {
        for o in UInt16(1)...8 {
            let img = try RGBImage(decoding: Self.jpeg(Self.picture, orientation: o))
            #expect(img.pixels.count == 4 * 2 * 3)
            #expect((img.width, img.height) == (o >= 5 ? (2, 4) : (4, 2)), "orientation \(o)")
            #expect(img.pixels.filter { $0 > 128 }.count == 8, "orientation \(o)")  // four red, four blue pixels
        }
        // 3: turned half way, red on the right.
        let half = try RGBImage(decoding: Self.jpeg(Self.picture, orientation: 3))
        #expect(!isRed(half, 0, 0) && isRed(half, 3, 1))
    }

    /// Hostile or broken segments mean "no orientation": the image still decodes as stored.
    @Test func malformedExifIsIgnoredNeverACrash() throws {
        let cases: [[UInt8]] = [
            [0x49, 0x49],                                               // too short
            [0x49, 0x49, 42, 0, 0xFF, 0xFF, 0xFF, 0x7F],                // IFD offset far past the end
            [0x49, 0x49, 42, 0, 8, 0, 0, 0, 0xFF, 0xFF],                // 65535 entries claimed
            [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0],    // entry cut short
            [0x41, 0x42, 42, 0, 8, 0, 0, 0],                            // not a byte order
        ]
        for t in cases {
            let img = try RGBImage(decoding: Self.jpeg(Self.picture, orientation: nil, tiff: t))
            #expect(img.width == 4 && img.height == 2)
        }
        let nine = try RGBImage(decoding: Self.jpeg(Self.picture, orientation: 9))
        #expect(nine.width == 4)
    }
}
