import PrivateServers
import Foundation
import Glibc
import Integrations
import WardenCore

/// An HTTP receiver on loopback, for the webhook tests: it keeps every request and
/// answers each with the next status of its script (200 once the script is used up).
final class WebhookReceiver: @unchecked Sendable {
    struct Request: Sendable { let headers: [String: String]; let body: [UInt8] }

    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var script: [Int]
    private var received: [Request] = []

    init(statuses: [Int] = []) throws {
        script = statuses
        // Bound to port 0 and listening at once: no gap in which another test takes the port.
        let (bound, p) = try LoopbackPort.bound()
        fd = bound
        port = p
        guard listen(fd, 16) == 0 else { throw PrivateBrokerError("cannot listen on \(port)") }
        let t = Thread { self.serve() }  // holds self until the loop ends (stop), never past it
        t.start()
    }

    var url: String { "http://127.0.0.1:\(port)/hooks/warden?token=t0ps3cret" }
    var requests: [Request] { lock.withLock { received } }

    func close() { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd) }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            var data = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 65_536)
            var headerEnd: Int? = nil, length = 0
            while true {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                data += buf[0..<n]
                if headerEnd == nil, let r = Self.find(data, Array("\r\n\r\n".utf8)) {
                    headerEnd = r + 4
                    let head = String(decoding: data[0..<r], as: UTF8.self)
                    for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                        length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
                if let h = headerEnd, data.count >= h + length { break }
            }
            guard let h = headerEnd else { Glibc.close(c); continue }
            var headers: [String: String] = [:]
            for line in String(decoding: data[0..<(h - 4)], as: UTF8.self).split(separator: "\r\n").dropFirst() {
                let kv = line.split(separator: ":", maxSplits: 1)
                if kv.count == 2 { headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces) }
            }
            let status: Int = lock.withLock {
                received.append(Request(headers: headers, body: Array(data[h..<min(data.count, h + length)])))
                return script.isEmpty ? 200 : script.removeFirst()
            }
            let reply = "HTTP/1.1 \(status) X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            _ = reply.withCString { write(c, $0, strlen($0)) }
            Glibc.close(c)
        }
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}
