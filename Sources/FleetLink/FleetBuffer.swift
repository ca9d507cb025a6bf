import Foundation

/// The events a controller holds for the server: every row of its audit log after the
/// server's high-water mark. Nothing here ever deletes a row; this only says how full the
/// buffer is and when to raise the alarm.
///
/// The capacity is what the disk can still hold, up to a ceiling: the rows already waiting
/// plus the free space divided by the measured size of a row. So the alarm comes early on
/// a small or shared disk, not only when the configured ceiling is near.
public struct FleetBuffer: Sendable, Equatable {
    /// The busy door the defaults are sized for: 4 doors, each passed every 6 s around the
    /// clock, each passage logging about 3 rows (the decision, the door opening, closing).
    public static let busyRowsPerHour: Double = 4 * 600 * 3
    /// 120 h at that rate (IEC 60839-11-1 grades 3-4) with room to spare: 864,000 rows.
    public static let defaultCeiling: Int64 = 1_000_000
    /// The alarm is raised at half the capacity: at the busy rate, 60 h or more before it is full.
    public static let alarmFraction = 0.5
    /// And cleared below this, so a buffer hovering at the line does not alarm on every upload.
    public static let clearFraction = 0.4

    public enum Level: String, Sendable, Codable, Comparable {
        case normal, high, full
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
        var rank: Int { switch self { case .normal: 0; case .high: 1; case .full: 2 } }
    }

    public var buffered: Int64
    public var capacity: Int64
    public var bytesPerRow: Int64

    /// `freeBytes`: free space on the log's file system; `bytesPerRow`: the log's size over
    /// its rows (at least 256: an empty log says nothing about its rows).
    public init(buffered: Int64, ceiling: Int64, freeBytes: Int64, bytesPerRow: Int64) {
        self.buffered = buffered
        self.bytesPerRow = max(256, bytesPerRow)
        capacity = max(1, min(ceiling, buffered + max(0, freeBytes) / self.bytesPerRow))
    }

    public var fraction: Double { Double(buffered) / Double(capacity) }

    /// Hours of the busy rate left before the capacity is reached.
    public var hoursLeftAtBusyRate: Double { Double(max(0, capacity - buffered)) / Self.busyRowsPerHour }

    /// The level, given the last one: `high` holds until the buffer falls below the clear line.
    public func level(after previous: Level) -> Level {
        if buffered >= capacity { return .full }
        if fraction >= Self.alarmFraction { return .high }
        if previous >= .high && fraction >= Self.clearFraction { return .high }
        return .normal
    }
}
