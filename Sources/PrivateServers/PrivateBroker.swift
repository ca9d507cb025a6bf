import Foundation
import Glibc
import WardenCore


/// Debian's mosquitto on a free loopback port, with a configuration of its own (no
/// persistence), started and stopped (or killed) by its owner: the tests' broker, as
/// `PrivatePostgres` is their database.
public final class PrivateBroker: @unchecked Sendable {
    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") }

    public let dir: String
    public let port: Int
    private var running: ChildProcess.Running?

    /// A TLS listener's files: the CA clients are checked against (when a client certificate
    /// is required), and the broker's own certificate and key.
    public struct TLS: Sendable {
        public var caFile: String, certFile: String, keyFile: String, requireClientCertificate: Bool
        public init(caFile: String, certFile: String, keyFile: String, requireClientCertificate: Bool) {
            self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile; self.requireClientCertificate = requireClientCertificate
        }
    }

    /// `users`: name -> password; with any, anonymous clients are refused. `tls`: the
    /// listener speaks TLS only.
    public init(users: [String: String] = [:], tls: TLS? = nil) throws {
        dir = NSTemporaryDirectory() + "warden-mqtt-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = try LoopbackPort.free()
        // As root, mosquitto would drop to the `mosquitto` user, which cannot read this directory.
        var conf = "listener \(port) 127.0.0.1\npersistence false\nlog_dest file \(dir)/broker.log\n" + (getuid() == 0 ? "user root\n" : "")
        if let tls {
            conf += "cafile \(tls.caFile)\ncertfile \(tls.certFile)\nkeyfile \(tls.keyFile)\ntls_version tlsv1.2\n"
            if tls.requireClientCertificate { conf += "require_certificate true\nuse_identity_as_username true\n" }
        }
        if users.isEmpty { conf += "allow_anonymous \(tls?.requireClientCertificate == true ? "false" : "true")\n" } else {
            let file = dir + "/passwords"
            for (i, (user, pass)) in users.sorted(by: { $0.key < $1.key }).enumerated() {
                let r = try ChildProcess.run(["/usr/bin/mosquitto_passwd", "-b"] + (i == 0 ? ["-c"] : []) + [file, user, pass])
                guard r.status == 0 else { throw PrivateBrokerError("mosquitto_passwd: \(r.stderr)") }
            }
            conf += "allow_anonymous false\npassword_file \(file)\n"
        }
        try conf.write(toFile: dir + "/mosquitto.conf", atomically: true, encoding: .utf8)
        try start()
    }

    public func start() throws {
        running = try ChildProcess.start(["/usr/sbin/mosquitto", "-c", dir + "/mosquitto.conf"])
        // Ready when it accepts a connection.
        for _ in 0..<100 {
            if Self.accepts(port) { return }
            usleep(50_000)
        }
        throw PrivateBrokerError("mosquitto did not listen on \(port) within 5 s: \((try? String(contentsOfFile: dir + "/broker.log", encoding: .utf8)) ?? "")")
    }

    /// SIGKILL: the broker gone without a word, as in a crash.
    public func kill() {
        running?.kill(SIGKILL)
        _ = running?.wait()
        running = nil
    }

    public func destroy() {
        kill()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Reads what a plain subscriber (mosquitto_sub) gets on `topic` within `seconds`, or
    /// until `count` messages: "topic payload" lines.
    public func subscribe(_ topic: String, count: Int, seconds: Int = 10, user: (String, String)? = nil) async throws -> [String] {
        let r = try await ChildProcess.output(["/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", String(port), "-t", topic, "-v", "-C", String(count), "-W", String(seconds)]
                                       + (user.map { ["-u", $0.0, "-P", $0.1] } ?? []))
        return r.stdout.split(separator: "\n").map(String.init)
    }

    /// A mosquitto_sub left running on `topic` ("topic payload" lines), for messages that
    /// are not retained: the caller waits until it has seen a retained one (so it is
    /// subscribed) before publishing.
    public final class Subscriber: @unchecked Sendable {
        let running: ChildProcess.Running
        init(_ r: ChildProcess.Running) { running = r }
        public var lines: [String] { running.outputSoFar().split(separator: "\n").map(String.init) }
        /// Waits (up to `seconds`) for a line that satisfies `match`.
        public func waitFor(seconds: Double = 60, _ match: (String) -> Bool) async throws -> Bool {
            let until = Date().addingTimeInterval(seconds)
            while Date() < until {
                if lines.contains(where: match) { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            // Once more past the deadline: a sleep that overslept (a busy test process) must
            // not turn a line that has arrived into a failure.
            return lines.contains(where: match)
        }
        public func stop() -> [String] {
            running.kill(SIGINT)
            return running.wait().stdout.split(separator: "\n").map(String.init)
        }
    }

    /// Also subscribed to `$SYS/broker/version`, which the broker retains: its line says the
    /// subscription is in place even before anything of Warden's is.
    public func subscriber(_ topic: String) throws -> Subscriber {
        Subscriber(try ChildProcess.start(["/usr/bin/mosquitto_sub", "-h", "127.0.0.1", "-p", String(port), "-t", topic, "-t", "$SYS/broker/version", "-v"]))
    }

    /// With mosquitto_pub: `user` to log in, `caFile` for a TLS listener, `retain` as the broker's stored copy.
    public func publish(_ topic: String, _ text: String, user: (String, String)? = nil, caFile: String? = nil, retain: Bool = false) throws {
        let r = try ChildProcess.run(["/usr/bin/mosquitto_pub", "-h", "127.0.0.1", "-p", String(port), "-t", topic, "-m", text]
                                     + (user.map { ["-u", $0.0, "-P", $0.1] } ?? []) + (caFile.map { ["--cafile", $0] } ?? []) + (retain ? ["-r"] : []))
        guard r.status == 0 else { throw PrivateBrokerError("mosquitto_pub: \(r.stderr)") }
    }

    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET); a.sin_port = in_port_t(UInt16(port).bigEndian); a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
}

/// A throw-away CA with a broker certificate for 127.0.0.1 and a client certificate, made
/// with the openssl command line: the tests' TLS brokers.
public struct ThrowawayCertificates: Sendable {
    public let dir: String
    public var ca: String { dir + "/ca.pem" }
    public var server: (cert: String, key: String) { (dir + "/server.pem", dir + "/server.key") }
    public var client: (cert: String, key: String) { (dir + "/client.pem", dir + "/client.key") }

    public init() throws {
        dir = NSTemporaryDirectory() + "warden-certs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func openssl(_ args: [String]) throws {
            let r = try ChildProcess.run(["/usr/bin/openssl"] + args)
            guard r.status == 0 else { throw PrivateBrokerError("openssl \(args.first ?? ""): \(r.stderr)") }
        }
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=Test MQTT CA",
                     "-keyout", dir + "/ca.key", "-out", ca])
        for (name, cn, ext) in [("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1"), ("client", "warden-door-1", "extendedKeyUsage=clientAuth")] {
            try "\(ext)\n".write(toFile: dir + "/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(cn)", "-keyout", dir + "/\(name).key", "-out", dir + "/\(name).csr"])
            try openssl(["x509", "-req", "-in", dir + "/\(name).csr", "-CA", ca, "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "2",
                         "-extfile", dir + "/\(name).ext", "-out", dir + "/\(name).pem"])
        }
    }

    public func destroy() { try? FileManager.default.removeItem(atPath: dir) }
}

public struct PrivateBrokerError: Error, CustomStringConvertible, Sendable { public let description: String; public init(_ d: String) { description = d } }
