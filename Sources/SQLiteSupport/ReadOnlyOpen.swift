import Foundation
import GRDB

/// Opening a database only to read it, even on a full disk. A WAL database needs its
/// shared-memory file (-shm), which SQLite creates, and grows to 32 KiB, on first open: on a
/// full disk that fails with "disk I/O error". When it does, and the write-ahead log is
/// empty (nothing committed waits in it, so the main file is complete), the file is opened
/// as immutable, which needs no -shm at all.
public enum ReadOnlyOpen {
    public static func pool(path: String) throws -> DatabasePool {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        do { return try DatabasePool(path: path, configuration: config) } catch {
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int ?? 0
            guard wal == 0 else { throw error }
            var immutable = Configuration()
            immutable.readonly = true
            return try DatabasePool(path: "file:\(path)?immutable=1", configuration: immutable)
        }
    }
}
