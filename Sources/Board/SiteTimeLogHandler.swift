import Foundation
import Logging
import WardenCore

/// `warden run`'s log lines on stdout, stamped in the site's time with its offset (what a
/// guard reads on the wall clock), then level, metadata and message:
/// `2026-12-07 17:03:06 +01:00 notice warden: [door=lobby site=HQ] DENIED ...`.
/// (swift-log's stream handler stamps the machine's zone, UTC on most boards.)
public struct SiteTimeLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let timeZone: TimeZone
    let write: @Sendable (String) -> Void

    public init(label: String, timeZone: TimeZone, write: @escaping @Sendable (String) -> Void = SiteTimeLogHandler.standardOutput) {
        self.label = label; self.timeZone = timeZone; self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let m = event.metadata { all.merge(m) { _, new in new } }
        let fields = all.isEmpty ? "" : " [" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        write("\(HumanTime.text(Date(), in: timeZone)) \(event.level) \(label):\(fields) \(event.message)\n")
    }

    private static let lock = NSLock()
    /// One line at a time, whole, flushed: journald and a watching test read lines.
    public static let standardOutput: @Sendable (String) -> Void = { line in
        lock.withLock {
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
