import Foundation
import Matching
import Integrations
import PresentationAttack
import WardenCore
import Yams

/// The site file `warden run --site site.yaml` reads: where the policy and pin map are,
/// which GPIO backend to use, and each door's camera, face and lockout settings. Paths are
/// relative to the site file.
///
/// ```yaml
/// policy: ../policies/example
/// pinmap: ../hardware/pinmaps/gpio-sim.yaml
/// gpio: gpiod                 # or simulated (no hardware; inputs from `simulate`)
/// doors:
///   lobby:
///     camera: {images: /srv/clips/lobby, fps: 5, loop: true}
///     face: {frames_required: 3, maximum_frames: 6, upsample: 0, badge_window: 8,
///            whole_frame_every: 4,                          # 1: no scanning around tracked faces only
///            liveness_frames: 3, liveness_threshold: 0.05}   # where the policy requires liveness
///     lockout: {attempts: 5, window: 60, duration: 300}
/// simulate:                   # scripted inputs for the simulated backend (tests, demos)
///   - {at: 2.0, door: server-room, badge: "12:1001"}
///   - {at: 4.5, door: server-room, contact: open}
///   - {at: 6.0, door: server-room, contact: closed}
///   - {at: 8.0, door: lobby, exit: pressed}
///   - {after_decisions: 1, at: 0.5, door: server-room, badge: "12:2002"}
/// ```
///
/// A step's `at` counts seconds from the moment every door is up (not from the process
/// start, which a loaded machine can take seconds over), or, with `after_decisions: N`,
/// from the moment the Nth access decision was made: a rehearsal then follows the doors
/// however fast the board recognises faces. Steps play in order of (after_decisions, at).
public struct SiteConfig: Sendable {
    /// A door's camera: a V4L2 device, a stream URL or video file (through ffmpeg), or a
    /// folder of images.
    public struct Camera: Sendable {
        public enum Kind: Sendable { case device(String), stream(String), images(String) }
        public var kind: Kind; public var fps: Double; public var loop: Bool; public var width: Int; public var height: Int
        public var images: String? { if case .images(let p) = kind { return p }; return nil }
    }
    public struct DoorConfig: Sendable { public var camera: Camera?; public var face: FaceSettings; public var lockout: LockoutSettings }
    public struct Simulated: Sendable {
        public var at: TimeInterval; public var afterDecisions: Int; public var door: String
        public var badge: String?; public var contact: String?; public var exit: String?
    }
    public enum GPIOKind: String, Sendable { case gpiod, simulated }

    public var file: String
    public var policyDirectory: String
    public var pinMapPath: String
    public var gpio: GPIOKind
    public var doors: [String: DoorConfig]
    public var simulate: [Simulated]
    /// Events to an MQTT broker, when the site file has an `mqtt:` section.
    public var mqtt: MQTTSettings?
    /// Events POSTed to these URLs (`webhooks:`).
    public var webhooks: [WebhookSettings] = []
    /// `template_update:`: off unless enabled (docs/matching.md).
    public var templateUpdate = TemplateUpdateRule()

    struct File: Decodable {
        struct Cam: Decodable { var images: String?; var device: String?; var url: String?; var file: String?; var fps: Double?; var loop: Bool?; var width: Int?; var height: Int? }
        struct FaceF: Decodable {
            var frames_required: Int?; var maximum_frames: Int?; var upsample: Int?; var badge_window: Double?; var whole_frame_every: Int?
            var liveness_frames: Int?; var liveness_threshold: Double?
        }
        struct Lock: Decodable { var attempts: Int?; var window: Double?; var duration: Double? }
        struct D: Decodable { var camera: Cam?; var face: FaceF?; var lockout: Lock? }
        struct S: Decodable { var at: Double; var after_decisions: Int?; var door: String; var badge: String?; var contact: String?; var exit: String? }
        struct MQTT: Decodable {
            struct TLS: Decodable { var ca_file: String; var cert_file: String?; var key_file: String? }
            struct Discovery: Decodable { var enabled: Bool?; var prefix: String? }
            struct Commands: Decodable { var enabled: Bool?; var doors: [String]? }
            var host: String; var port: Int?; var `protocol`: String?; var client_id: String?; var username: String?; var password_file: String?
            var tls: TLS?; var topic_prefix: String?; var site: String?; var person: String?; var discovery: Discovery?; var queue: Int?
            var keepalive: Int?; var commands: Commands?
        }
        struct Webhook: Decodable {
            var url: String; var secret_file: String; var ca_file: String?; var events: [String]?; var person: String?
            var queue: Int?; var attempts: Int?
        }
        struct TemplateUpdate: Decodable { var enabled: Bool?; var max_added: Int?; var margin: Double? }
        var policy: String; var pinmap: String; var gpio: String?; var doors: [String: D]?; var simulate: [S]?; var mqtt: MQTT?; var webhooks: [Webhook]?
        var template_update: TemplateUpdate?
    }

    /// Reads and checks the file; every problem found is reported together.
    public static func load(path: String) throws -> SiteConfig {
        var problems: [String] = []
        let text: String
        do { text = try BoundedFile.readText(path) } catch { throw SiteConfigError(problems: ["cannot read the site file: \(error)"]) }
        // Keys and number ranges first, with line and column (SiteFileSchema).
        let tree: Node
        do {
            guard let t = try Yams.compose(yaml: text) else { throw SiteConfigError(problems: ["\(path): the site file is empty"]) }
            tree = t
        } catch let e as SiteConfigError { throw e } catch { throw SiteConfigError(problems: ["\(path): \(error)"]) }
        let schemaProblems = SiteFileSchema.site.check(tree, file: path)
        if !schemaProblems.isEmpty { throw SiteConfigError(problems: schemaProblems) }
        let f: File
        do { f = try YAMLDecoder().decode(File.self, from: text) } catch { throw SiteConfigError(problems: ["\(path): \(error)"]) }
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : ((base as NSString).appendingPathComponent(p) as NSString).standardizingPath }
        let gpio = GPIOKind(rawValue: f.gpio ?? "gpiod")
        if gpio == nil { problems.append("gpio must be gpiod or simulated, not '\(f.gpio!)'") }
        var doors: [String: DoorConfig] = [:]
        for (id, d) in f.doors ?? [:] {
            var cam: Camera? = nil
            if let c = d.camera {
                let given = [c.images, c.device, c.url, c.file].compactMap { $0 }
                if given.count != 1 { problems.append("door \(id): a camera needs exactly one of images, device, url, file") }
                var kind: Camera.Kind? = nil
                if let images = c.images {
                    let dir = resolve(images)
                    var isDir: ObjCBool = false
                    if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) || !isDir.boolValue { problems.append("door \(id): camera images folder \(dir) does not exist") }
                    kind = .images(dir)
                } else if let dev = c.device {
                    kind = .device(dev)   // may appear later (hot-plug): checked at run time, with back-off
                } else if let url = c.url {
                    kind = .stream(url)
                } else if let file = c.file {
                    let path = resolve(file)
                    if !FileManager.default.fileExists(atPath: path) { problems.append("door \(id): camera file \(path) does not exist") }
                    kind = .stream(path)
                }
                if let kind { cam = Camera(kind: kind, fps: c.fps ?? 5, loop: c.loop ?? false, width: c.width ?? 640, height: c.height ?? 480) }
            }
            let ff = d.face
            // Each number's range is SiteFileSchema's; what is left are rules across fields.
            if let n = ff?.frames_required, let m = ff?.maximum_frames, m < n {
                problems.append("door \(id): maximum_frames (\(m)) must be at least frames_required (\(n))")
            }
            let maximumFrames = ff?.maximum_frames ?? 6
            if let n = ff?.liveness_frames, maximumFrames < n {
                problems.append("door \(id): maximum_frames (\(maximumFrames)) must be at least liveness_frames (\(n)), or liveness could never be shown")
            }
            var face = FaceSettings(framesRequired: ff?.frames_required ?? 3, maximumFrames: maximumFrames, badgeWindow: ff?.badge_window ?? 8,
                                    liveness: LivenessRule(framesRequired: ff?.liveness_frames ?? LivenessRule.standard.framesRequired,
                                                           threshold: ff?.liveness_threshold ?? LivenessRule.standard.threshold))
            face.detection.upsample = ff?.upsample ?? 0
            if let n = ff?.whole_frame_every { face.scan.wholeFrameEvery = n }
            let l = d.lockout
            doors[id] = DoorConfig(camera: cam, face: face,
                                   lockout: LockoutSettings(attempts: l?.attempts ?? 5, window: l?.window ?? 60, duration: l?.duration ?? 300))
        }
        let sims = (f.simulate ?? []).map { Simulated(at: $0.at, afterDecisions: $0.after_decisions ?? 0, door: $0.door, badge: $0.badge, contact: $0.contact, exit: $0.exit) }
        for s in sims where s.contact != nil && !["open", "closed"].contains(s.contact!) { problems.append("simulate: contact must be open or closed") }
        if !sims.isEmpty && gpio == .gpiod { problems.append("simulate needs gpio: simulated") }
        let mqtt = f.mqtt.flatMap { Self.mqtt($0, resolve: resolve, problems: &problems) }
        for d in (mqtt?.commands.doors ?? []).sorted() where doors[d] == nil { problems.append("mqtt.commands.doors: '\(d)' is not a door of this site file") }
        let webhooks = (f.webhooks ?? []).enumerated().compactMap { Self.webhook($0.element, index: $0.offset, resolve: resolve, problems: &problems) }
        if !problems.isEmpty {
            throw SiteConfigError(problems: problems.map { "\(path): \($0)" }, policyDirectory: resolve(f.policy), pinMapPath: resolve(f.pinmap))
        }
        var config = SiteConfig(file: path, policyDirectory: resolve(f.policy), pinMapPath: resolve(f.pinmap), gpio: gpio!, doors: doors, simulate: sims, mqtt: mqtt, webhooks: webhooks)
        if let t = f.template_update {
            config.templateUpdate = TemplateUpdateRule(enabled: t.enabled ?? false, maximumAdded: t.max_added ?? 3, margin: t.margin ?? 0.10)
        }
        return config
    }

    /// One `webhooks:` entry. Events carry who went where: plain http:// only to this host.
    private static func webhook(_ w: File.Webhook, index: Int, resolve: (String) -> String, problems: inout [String]) -> WebhookSettings? {
        let at = "webhooks[\(index)]"
        guard let url = URLComponents(string: w.url), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty else {
            problems.append("\(at).url must be an http:// or https:// URL (got \(w.url))"); return nil
        }
        if scheme == "http", !["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) {
            problems.append("\(at).url: events name people and doors, so they go over https:// (plain http:// only to this host)")
        }
        var secret: [UInt8] = []
        let path = resolve(w.secret_file)
        do { secret = Array(try BoundedFile.readText(path, limit: 4096).trimmingCharacters(in: .whitespacesAndNewlines).utf8) } catch {
            problems.append("\(at).secret_file \(path): \(error)")
        }
        if secret.count < 16 { problems.append("\(at).secret_file \(path): the secret must be at least 16 bytes (try `openssl rand -hex 32 > \(path)`)") }
        var s = WebhookSettings(url: w.url, secret: secret, site: "")
        if let ca = w.ca_file {
            do { s.caPEM = try BoundedFile.readText(resolve(ca), limit: 1 << 20) } catch { problems.append("\(at).ca_file \(resolve(ca)): \(error)") }
        }
        if let e = w.events { s.events = e }
        if let p = w.person {
            guard let v = PublishedPerson(rawValue: p) else { problems.append("\(at).person must be id or name (got \(p))"); return nil }
            s.person = v
        }
        if let q = w.queue { s.queueLimit = q }
        if let a = w.attempts { s.attempts = a }
        return s
    }

    /// The `mqtt:` section. The site's name in topics is given (`site:`) or, when absent,
    /// filled in from the policy by the caller.
    private static func mqtt(_ m: File.MQTT, resolve: (String) -> String, problems: inout [String]) -> MQTTSettings? {
        var out = MQTTSettings(host: m.host, site: m.site ?? "")
        if let p = m.port { out.port = p }
        switch m.protocol ?? "3.1.1" {
        case "3.1.1", "311": out.protocolVersion = .v311
        case "5", "5.0": out.protocolVersion = .v5
        case let other: problems.append("mqtt.protocol must be 3.1.1 or 5 (got \(other))")
        }
        if let c = m.client_id { out.clientID = c; out.board = c; out.clientIDChosen = true } else {
            out.clientID = MQTTSettings.automaticClientID(controller: nil); out.board = out.clientID
        }
        out.username = m.username
        if let f = m.password_file {
            let path = resolve(f)
            do { out.password = try BoundedFile.readText(path, limit: 4096).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
                problems.append("mqtt.password_file \(path): \(error)")
            }
            if m.username == nil { problems.append("mqtt.password_file needs mqtt.username") }
        }
        if let t = m.tls { out.tls = .init(caFile: resolve(t.ca_file), certFile: t.cert_file.map(resolve), keyFile: t.key_file.map(resolve)) }
        if (out.tls?.certFile == nil) != (out.tls?.keyFile == nil) { problems.append("mqtt.tls: cert_file and key_file go together") }
        for f in [out.tls?.caFile, out.tls?.certFile, out.tls?.keyFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: f) {
            problems.append("mqtt.tls: cannot read \(f)")
        }
        if let p = m.topic_prefix { out.topicPrefix = p }
        if let p = m.person {
            guard let v = MQTTSettings.PersonField(rawValue: p) else { problems.append("mqtt.person must be id or name (got \(p))"); return nil }
            out.person = v
        }
        if let d = m.discovery { out.discovery = d.enabled ?? true; if let p = d.prefix { out.discoveryPrefix = p } }
        if let q = m.queue { out.queueLimit = q }
        if let k = m.keepalive { out.keepAlive = k }
        if let c = m.commands, c.enabled == true {
            // Only over TLS, only from a broker that authenticates Warden (and so, with its
            // ACL, who may publish to the command topics), only for doors listed by name.
            if out.tls == nil { problems.append("mqtt.commands.enabled needs mqtt.tls: remote commands are taken only over TLS") }
            if out.password == nil && out.tls?.certFile == nil {
                problems.append("mqtt.commands.enabled needs broker authentication: mqtt.username with mqtt.password_file, or mqtt.tls.cert_file and key_file")
            }
            let doors = c.doors ?? []
            if doors.isEmpty { problems.append("mqtt.commands.enabled needs mqtt.commands.doors: the doors whose command topics are acted on") }
            out.commands = .init(enabled: true, doors: Set(doors))
        } else if m.commands?.doors?.isEmpty == false {
            problems.append("mqtt.commands.doors is set but mqtt.commands.enabled is not true: commands stay refused")
        }
        return out
    }
}

public struct SiteConfigError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    /// Where the file points, when it could be read that far, so those can be checked too.
    public var policyDirectory: String? = nil
    public var pinMapPath: String? = nil
    public var description: String { problems.joined(separator: "\n") }
}
