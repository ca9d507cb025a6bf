// swift-tools-version:6.0
import PackageDescription
import Foundation

// The dlib shim is always compiled optimised: dlib's templates run 10-50x slower at -O0,
// which would make even debug test runs crawl. It targets a baseline x86-64 CPU so the
// same binary runs under qemu's TCG in the hardware-in-the-loop VM. Set WARDEN_NATIVE=1
// for a build tuned to this machine's CPU (benchmarks only).
let native = ProcessInfo.processInfo.environment["WARDEN_NATIVE"] == "1"
var shimFlags = ["-O2", "-std=c++17", "-fno-strict-aliasing", "-DDLIB_NO_GUI_SUPPORT"]
if native { shimFlags += ["-march=native"] } else if let arch = ProcessInfo.processInfo.environment["WARDEN_MARCH"] { shimFlags += ["-march=\(arch)"] }

// `make fuzz` sets WARDEN_FUZZ_C=1: libosdp's C is then instrumented for libFuzzer's coverage
// and AddressSanitizer too (swiftc's -sanitize flags reach Swift code only).
let osdpFuzzFlags = ProcessInfo.processInfo.environment["WARDEN_FUZZ_C"] == "1" ? ["-fsanitize=fuzzer-no-link,address"] : []

let package = Package(
    name: "Warden",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .executable(name: "warden-server", targets: ["warden-server"]),
        .executable(name: "warden-lab", targets: ["warden-lab"]),
        .library(name: "FaceKit", targets: ["FaceKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The fleet: the server on PostgreSQL over HTTPS with mutual TLS, and the controllers' link.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        // The web console's server-rendered pages.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Graceful shutdown: long polls and the console's live stream end when the server stops.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // C libraries from Debian packages.
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp",
                       providers: [.apt(["libwebp-dev"])]),
        // Text in PNG plots.
        .systemLibrary(name: "CFreeType", pkgConfig: "freetype2",
                       providers: [.apt(["libfreetype-dev"])]),

        // A thin extern "C" shim over dlib (one C++ shim per C++ library).
        .target(
            name: "CDlibFace",
            cxxSettings: [.unsafeFlags(shimFlags)],
            linkerSettings: [
                .linkedLibrary("dlib"), .linkedLibrary("blas"), .linkedLibrary("lapack"),
                .linkedLibrary("stdc++"),
            ]
        ),

        // A thin extern "C" shim over OpenCV's DNN and objdetect modules: the MiniFASNet
        // presentation-attack pair, upstream's RetinaFace detector, SFace and YuNet. Debian 12's OpenCV 4.6 ships no opencv4.pc
        // without the whole of libopencv-dev, so the libraries are named directly.
        .target(
            name: "COpenCV",
            cxxSettings: [.unsafeFlags(["-O2", "-std=c++17", "-I/usr/include/opencv4"])],
            linkerSettings: [
                .linkedLibrary("opencv_objdetect"), .linkedLibrary("opencv_dnn"), .linkedLibrary("opencv_imgproc"), .linkedLibrary("opencv_core"),
                .linkedLibrary("stdc++"),
            ]
        ),
        // libosdp 3.2.9 (Apache-2.0), the OSDP stack, built from the C sources of its PyPI
        // sdist (`make setup` extracts them into libosdp/, pinned by SHA-256), with Warden's
        // crypto backend on OpenSSL instead of the sdist's TinyAES and a C shim (wosdp.h).
        // Readers that go offline are tried again after 2 s, not libosdp's 300 s.
        .target(
            name: "CLibOSDP",
            exclude: ["libosdp/PKG-INFO"],
            cSettings: [
                .headerSearchPath("libosdp/include"), .headerSearchPath("libosdp/src"), .headerSearchPath("libosdp/utils/include"),
                .define("OPT_OSDP_APP_OWNED_QUEUE_DATA", to: "1"),
                .define("OSDP_ONLINE_RETRY_WAIT_MAX_MS", to: "2000"),
                .unsafeFlags(["-O2", "-Wno-unused-parameter", "-Wno-sign-compare"] + osdpFuzzFlags),
            ],
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // OSDP readers as a control panel: the serial bus, Secure Channel keys, the reader port.
        .target(name: "OSDP", dependencies: ["CLibOSDP", "DoorIO", "WardenCore"]),
        // Presentation-attack detection: model files and their sums, the detector, framing,
        // liveness evidence across frames, the planar-motion check.
        .target(name: "PresentationAttack", dependencies: ["COpenCV", "FaceKit", .product(name: "Crypto", package: "swift-crypto")]),

        .target(name: "FaceKit", dependencies: ["CDlibFace", "CTurboJPEG", "CPNG", "CWebP", "WardenCore"]),
        // The second recognition model: SFace behind FaceKit's FaceRecognizer port, aligned by
        // YuNet's five points, with its files' sums and where they come from.
        .target(name: "OpenCVFaces", dependencies: ["COpenCV", "FaceKit", "Matching", "WardenCore", .product(name: "Crypto", package: "swift-crypto")]),
        // Value types every layer shares (badge credentials, operators), with no I/O.
        .target(name: "WardenCore"),
        // The int8 scan kernel of 1:N search, with run-time CPU dispatch (see its header).
        .target(name: "CSearchKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Matching", dependencies: ["FaceKit", "CSearchKernels", "WardenCore", .product(name: "Yams", package: "Yams")]),
        // What measures matching and is not needed at a door: evaluation (FMR/FNMR, EER, FPIR/FNIR,
        // calibration) and metric training. The lab links it; the board and the server do not.
        .target(name: "MatchingLab", dependencies: ["Matching", "WardenCore"]),
        // What the two SQLite stores (identity, audit) share: opening read-only on a full disk.
        .target(name: "SQLiteSupport", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Storage", dependencies: [
            "FaceKit", "WardenCore", "SQLiteSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        // Door hardware: GPIO (libgpiod and simulated), the door state machine, Wiegand.
        .target(name: "DoorIO", dependencies: ["WardenCore", "CGPIOD", .product(name: "Yams", package: "Yams")]),
        // Frame sources: V4L2 cameras, video and network streams through ffmpeg, image sequences.
        .systemLibrary(name: "CV4L2", pkgConfig: "libv4l2", providers: [.apt(["libv4l-dev"])]),
        .target(name: "Capture", dependencies: ["FaceKit", "WardenCore", "CV4L2"]),
        // Wires faces, policy, doors and the audit log together per door.
        .target(name: "Controller", dependencies: ["FaceKit", "PresentationAttack", "Matching", "Storage", "Policy", "DoorIO", "Audit", "Capture", "WardenCore", "Integrations"]),
        // The site model and the pure access decision.
        .target(name: "Policy", dependencies: ["WardenCore", .product(name: "Yams", package: "Yams")]),
        .target(name: "Audit", dependencies: [
            "WardenCore", "SQLiteSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The fleet protocol that server and controllers share: messages, revisions, join
        // tokens, the site CA's certificates. No I/O beyond encoding.
        .target(name: "FleetProtocol", dependencies: [
            "WardenCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        // The central server: PostgreSQL through postgres-nio, HTTPS with mutual TLS through
        // Hummingbird 2 and swift-nio-ssl.
        .target(name: "FleetServer", dependencies: [
            "FleetProtocol", "WardenCore", "Storage", "Audit", "FaceKit", "Matching", "Policy",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
            // bcrypt's threads of its own (NIOThreadPool), off Swift's cooperative pool.
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The web console on the fleet server: sessions, the live board, people, access,
        // audit and controllers pages (Mustache templates and a little JavaScript, compiled in).
        .target(name: "WebConsole", dependencies: [
            "FleetServer", "FleetProtocol", "Audit", "Policy", "FaceKit", "WardenCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // A controller's side of the fleet: joining, the replica sync, the event upload,
        // the link's state. The link is a port; its HTTPS is Debian's libcurl, so a board's
        // binary carries no SwiftNIO (see FleetTransport.swift).
        // One blocking HTTPS exchange over libcurl: the fleet link's and the webhooks'.
        .target(name: "HTTPClient", dependencies: ["CCurl"]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        // Integrations: the site's events over MQTT (Home Assistant discovery) and webhooks,
        // from the committed audit log; never in the doors' way.
        .target(name: "Integrations", dependencies: [
            "Audit", "Policy", "WardenCore", "CMosquitto", "HTTPClient",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "FleetLink", dependencies: [
            "FleetProtocol", "WardenCore", "Storage", "Audit", "HTTPClient",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Real servers on private ports for the tests and the benchmarks (a throw-away
        // PostgreSQL, mosquitto, free loopback ports): no shipping library imports them.
        .target(name: "PrivateServers", dependencies: ["WardenCore"]),
        // The broker link in memory, as NIOEmbedded is a channel in memory: for tests of the
        // publisher without a broker.
        .target(name: "IntegrationsEmbedded", dependencies: ["Integrations"]),
        // The door loop's in-memory twins (identity, audit, faces, camera) and a door wired to
        // them: door tests without models or files. Tests only.
        .target(name: "ControllerEmbedded", dependencies: ["Controller", "Audit", "Capture", "DoorIO", "FaceKit", "Matching", "Policy", "Storage", "WardenCore"]),
        // What every command-line program shares (board, lab and server): the data
        // directory, the option groups, output and errors, and matching.yaml.
        .target(name: "CommandSupport", dependencies: [
            "FaceKit", "Matching", "Audit", "FleetProtocol", "WardenCore", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // A board's home in one encrypted archive, and back (warden backup / restore).
        .target(name: "Backup", dependencies: [
            "Audit", "Storage", "WardenCore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        // The board's composition root: every service `warden run` starts, built, run and
        // stopped in one place (BoardRunner), testable in-process.
        .target(name: "Board", dependencies: [
            "Controller", "FleetLink", "FleetProtocol", "Integrations", "OSDP", "FaceKit", "Matching", "Storage", "WardenCore", "Audit", "Policy",
            "DoorIO", "Capture", "PresentationAttack",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "WardenCLI", dependencies: [
            "Backup", "Board", "CommandSupport", "FleetProtocol", "FleetLink", "Integrations", "OSDP",
            "FaceKit", "Matching", "Storage", "WardenCore", "Audit", "Policy", "DoorIO", "Capture", "Controller", "PresentationAttack", "OpenCVFaces",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "warden", dependencies: ["WardenCLI", "CommandSupport"]),
        // The lab: evaluation, calibration, metric training, liveness studies and benchmarks,
        // a binary of its own so the door's `warden` links none of it (`warden eval` runs it).
        .target(name: "WardenLab", dependencies: ["WardenCLI", "CommandSupport", "PrivateServers", "CFreeType", "FaceKit", "Matching", "MatchingLab", "Storage", "WardenCore", "Audit", "Policy", "Controller",
                                                  "PresentationAttack", "OpenCVFaces", "Capture", "Integrations", "FleetProtocol",
                                                  .product(name: "Yams", package: "Yams"), .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "warden-lab", dependencies: ["WardenLab", "CommandSupport"]),
        // The fleet server's commands and binary, apart from the board's: `warden server ...`
        // runs it, so a door controller's `warden` links no server, no PostgreSQL driver and
        // no SwiftNIO.
        .target(name: "WardenServerCLI", dependencies: [
            "CommandSupport", "FleetServer", "WebConsole", "FleetLink", "FleetProtocol", "Matching", "FaceKit", "OpenCVFaces", "Storage", "Audit", "WardenCore", "PrivateServers",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "warden-server", dependencies: ["WardenServerCLI", "CommandSupport"]),

        // Hostile-input harnesses (image decoders, Wiegand, policy and pin-map YAML, badge
        // identifiers): libFuzzer targets under `make fuzz`, corpus replay under `make test`.
        .target(name: "FuzzHarnesses", dependencies: ["FaceKit", "DoorIO", "Policy", "WardenCore", "CLibOSDP", "FleetProtocol"]),
        .executableTarget(name: "warden-fuzz", dependencies: ["FuzzHarnesses"]),

        // What every test target shares: the checkout's paths (models, fixtures, ../shared).
        .target(name: "WardenTestSupport", path: "Tests/WardenTestSupport"),
        .testTarget(name: "FaceKitTests", dependencies: ["WardenTestSupport", "FaceKit", "WardenCore"]),
        .testTarget(name: "MatchingLabTests", dependencies: ["WardenTestSupport", "MatchingLab", "Matching", "WardenCore"]),
        .testTarget(name: "MatchingTests", dependencies: ["WardenTestSupport", "Matching", "FaceKit", "CSearchKernels", "WardenCore"]),
        .testTarget(name: "StorageTests", dependencies: ["WardenTestSupport", "Storage", "FaceKit", "WardenCore"]),
        // The module rules of docs/architecture.md, checked on `swift package dump-package`.
        .testTarget(name: "ArchitectureTests", dependencies: ["WardenTestSupport"]),
        .testTarget(name: "WardenCoreTests", dependencies: ["WardenTestSupport", "WardenCore"]),
        .testTarget(name: "AuditTests", dependencies: ["WardenTestSupport", "Audit", "WardenCore"]),
        .testTarget(name: "PolicyTests", dependencies: ["WardenTestSupport", "Policy", "WardenCore"]),
        .testTarget(name: "DoorIOTests", dependencies: ["WardenTestSupport", "DoorIO", "WardenCore"]),
        // The OSDP tests' reader: libosdp's Python PD behind a pty, shared by two test targets.
        .target(name: "OSDPTestPeer", dependencies: ["WardenCore", "WardenTestSupport"], path: "Tests/OSDPTestPeer"),
        .testTarget(name: "OSDPTests", dependencies: ["WardenTestSupport", "OSDP", "OSDPTestPeer", "DoorIO", "WardenCore"]),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["WardenTestSupport", "FuzzHarnesses"]),
        .testTarget(name: "OpenCVFacesTests", dependencies: ["WardenTestSupport", "OpenCVFaces", "FaceKit", "Matching"]),
        .testTarget(name: "PresentationAttackTests", dependencies: ["WardenTestSupport", "PresentationAttack", "FaceKit"]),
        .testTarget(name: "ControllerTests", dependencies: ["WardenTestSupport", "Controller", "ControllerEmbedded", "PresentationAttack", "FaceKit", "Matching", "Storage", "Policy", "DoorIO", "Audit", "Capture", "WardenCore", "OpenCVFaces"]),
        .testTarget(name: "FleetTests", dependencies: ["WardenTestSupport", "PrivateServers", "OpenCVFaces", "FleetProtocol", "FleetServer", "WebConsole", "HTTPClient", "FleetLink", "Storage", "Audit", "WardenCore", "FaceKit", "Matching",
                                                       .product(name: "Logging", package: "swift-log"),
                                                       .product(name: "PostgresNIO", package: "postgres-nio")]),
        .testTarget(name: "IntegrationsTests", dependencies: ["WardenTestSupport", "Integrations", "IntegrationsEmbedded", "PrivateServers", "Audit", "Policy", "WardenCore"]),
        .testTarget(name: "BackupTests", dependencies: ["WardenTestSupport", "Backup", "Audit", "Storage", "WardenCore"]),
        .testTarget(name: "BoardTests", dependencies: ["WardenTestSupport", "Board", "Controller", "Audit", "DoorIO", "FaceKit", "Matching", "PresentationAttack", "Policy", "Storage", "WardenCore",
                                                   .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "WardenCLITests", dependencies: ["WardenTestSupport", "CommandSupport", "PrivateServers", "Board", "WardenCLI", "WardenLab", "WardenServerCLI", "MatchingLab", "OSDPTestPeer", "PresentationAttack", "FaceKit", "Storage", "Audit", "Controller", "Matching", "WardenCore", "Integrations",
                                                          .product(name: "GRDB", package: "GRDB.swift")]),
    ],
    cxxLanguageStandard: .cxx17
)
