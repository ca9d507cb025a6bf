import CommandSupport
import ArgumentParser
import Capture
import FaceKit
import Foundation

struct CameraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera",
        abstract: "List V4L2 cameras and take snapshots from cameras, streams and files.",
        discussion: """
        Examples:
          warden camera list
          warden camera snapshot /dev/v4l/by-id/usb-Logitech_C920-video-index0 door.jpg
          warden camera snapshot rtsp://10.0.0.5/stream1 door.jpg
        """,
        subcommands: [ListCameras.self, Snapshot.self]
    )
}

struct ListCameras: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show capture devices with their formats and sizes.")
    @OptionGroup var global: GlobalOptions
    func run() throws {
        let devices = V4L2Device.list()
        if global.json { try Output.json(devices); return }
        if devices.isEmpty { print("no V4L2 capture devices (ls /dev/video*; is the camera's driver loaded and are you in the video group?)"); return }
        for d in devices {
            print("\(d.path): \(d.card) (driver \(d.driver), \(d.busInfo))")
            for f in d.formats { print("  \(f.fourcc) \(f.description): \(f.sizes.prefix(8).joined(separator: ", "))\(f.sizes.count > 8 ? ", ..." : "")") }
        }
    }
}

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Save one frame from a camera (/dev/...), a stream URL or a video file.",
        discussion: "The file type follows the extension: .jpg or .ppm. Exit status 1 if no frame arrives within --timeout."
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A V4L2 device (/dev/videoN or /dev/v4l/by-id/...), a stream URL or a video file.") var source: String
    @Argument(help: "Where to save the frame (.jpg or .ppm).") var file: String
    @Option(help: "Frame width.") var width = 640
    @Option(help: "Frame height.") var height = 480
    @Option(help: "Seconds to wait for a frame.") var timeout = 10.0

    func run() throws {
        let events = EventLog()
        let src: any FrameSource
        if source.hasPrefix("/dev/") { src = V4L2Source(device: source, width: width, height: height, onEvent: { events.add($0) }) }
        else { src = FFmpegSource(input: source, width: width, height: height, onEvent: { events.add($0) }) }
        let deadline = Date().addingTimeInterval(timeout)
        var frame: Frame? = nil
        while frame == nil && Date() < deadline {
            frame = try src.nextFrame()
            if frame == nil { usleep(20_000) }
        }
        (src as? V4L2Source)?.stop(); (src as? FFmpegSource)?.stop()
        guard let frame else { throw CLIError("no frame from \(source) in \(Int(timeout))s" + (events.last.map { ": \($0)" } ?? "")) }
        let data = file.lowercased().hasSuffix(".ppm") ? frame.image.ppmData() : try frame.image.jpegData(quality: 92)
        try Data(data).write(to: URL(fileURLWithPath: file))
        if global.json { try Output.json(["file": file, "width": "\(frame.image.width)", "height": "\(frame.image.height)"]) }
        else { print("saved \(frame.image.width)x\(frame.image.height) frame from \(source) to \(file)") }
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [CaptureEvent] = []
    func add(_ e: CaptureEvent) { lock.lock(); events.append(e); lock.unlock() }
    var last: String? {
        lock.lock(); defer { lock.unlock() }
        guard let e = events.last else { return nil }
        if case .lost(let why) = e { return why }
        return nil
    }
}
