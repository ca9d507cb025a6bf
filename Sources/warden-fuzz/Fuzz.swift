import FuzzHarnesses
import Foundation

// Built two ways. `make fuzz` compiles with -sanitize=fuzzer -DFUZZING: libFuzzer owns
// main and calls LLVMFuzzerTestOneInput with the target named by WARDEN_FUZZ_TARGET.
// A plain build replays files instead: `warden-fuzz TARGET FILE...`.
#if FUZZING
nonisolated(unsafe) private let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["WARDEN_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        fatalError("set WARDEN_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main`; hand it to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("warden_fuzz_main")
public func wardenFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var args = argv
    return withUnsafeMutablePointer(to: &count) { c in withUnsafeMutablePointer(to: &args) { a in
        LLVMFuzzerRunDriver(c, UnsafeMutableRawPointer(a).assumingMemoryBound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self), fuzzOne)
    } }
}
#else
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: warden-fuzz TARGET FILE...   targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
            exit(2)
        }
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("cannot read \(path)"); exit(1) }
            target.run(Array(data))
        }
        print("\(name): \(args.count - 1) input(s) ok")
    }
}
#endif
