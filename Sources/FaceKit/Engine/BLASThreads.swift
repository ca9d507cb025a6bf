import Foundation

/// The BLAS library under dlib's network (OpenBLAS on Debian) starts a thread per core
/// and lets them spin between calls. In the controller that steals the cores the door loop
/// and the other cameras' workers need (seen as a door loop stalling for seconds on a
/// loaded 2-core board); each camera already has its own inference thread, so one BLAS
/// thread per call is the better trade there.
public enum BLASThreads {
    /// Limits OpenBLAS to `count` threads; false when the BLAS in use is not OpenBLAS.
    @discardableResult
    public static func limit(to count: Int) -> Bool {
        guard let sym = dlsym(nil /* RTLD_DEFAULT: any loaded library */, "openblas_set_num_threads") else { return false }
        typealias SetThreads = @convention(c) (Int32) -> Void
        unsafeBitCast(sym, to: SetThreads.self)(Int32(count))
        return true
    }
}
