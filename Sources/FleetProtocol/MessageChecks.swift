import Foundation

// The ranges of each message a peer sends to the server: a controller (join, heartbeat,
// uploads, capture results) or an operator (the admin API). Dates are already checked by
// `FleetJSON.decoder()`; these add counts, revisions, sizes and text. A field out of range
// is a 400 that names it, before any handler runs.

/// Lengths shared by the messages and the stores that keep them.
public enum FieldLimits {
    public static let name = 200                // a person's display name, a group, an operator
    public static let identifier = 128          // external ids, zones, schedules, doors, job ids
    public static let version = 64              // a Warden version string
    public static let hash = 128                // hex digests
    public static let uploadRows = 10_000       // a board sends FleetTiming.uploadBatch (2,000)
    public static let auditPayload = 64 << 10   // one audit row's JSON
    public static let doors = 256               // doors one controller reports
    public static let revision: ClosedRange<Int64> = 0...(Int64.max / 2)
    public static let seq: ClosedRange<Int64> = 1...(Int64.max / 2)
    public static let count: ClosedRange<Int64> = 0...(Int64.max / 2)
}

extension JoinRequest: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(token, "token", maxBytes: 512)
        try PeerInput.check(certificateSigningRequest, "certificateSigningRequest", maxBytes: 16 << 10, lines: true)
        try PeerInput.check(wardenVersion, "wardenVersion", maxBytes: FieldLimits.version)
    }
}

extension AppliedReport: CheckedMessage {
    public func checkFields() throws(InvalidField) { try PeerInput.check(revision, "revision", in: FieldLimits.revision) }
}

extension EventBatch: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(rows.count, "rows", in: 0...FieldLimits.uploadRows)
        for (i, r) in rows.enumerated() {
            try PeerInput.check(r.seq, "rows[\(i)].seq", in: FieldLimits.seq)
            try PeerInput.check(r.payload, "rows[\(i)].payload", maxBytes: FieldLimits.auditPayload, lines: true)
            try PeerInput.check(r.prevHash, "rows[\(i)].prevHash", maxBytes: FieldLimits.hash)
            try PeerInput.check(r.hash, "rows[\(i)].hash", maxBytes: FieldLimits.hash)
        }
    }
}

extension ControllerReport: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(wardenVersion, "wardenVersion", maxBytes: FieldLimits.version)
        try PeerInput.check(appliedRevision, "appliedRevision", in: FieldLimits.revision)
        try PeerInput.check(bufferedEvents, "bufferedEvents", in: FieldLimits.count)
        if let s = clockSkewSeconds { try PeerInput.check(s, "clockSkewSeconds", in: -1e9...1e9) }
        try PeerInput.check(doors.count, "doors", in: 0...FieldLimits.doors)
        for (i, d) in doors.enumerated() {
            try PeerInput.check(d.id, "doors[\(i)].id", maxBytes: FieldLimits.identifier)
            try PeerInput.check(d.state, "doors[\(i)].state", maxBytes: FieldLimits.identifier)
        }
    }
}

extension CaptureProgressWire: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(job, "job", maxBytes: FieldLimits.identifier)
        try PeerInput.check(elapsed, "elapsed", in: 0...86_400)
        try PeerInput.check(frames, "frames", in: 0...Int(Int32.max))
        try PeerInput.check(usable, "usable", in: 0...Int(Int32.max))
        try PeerInput.check(covered.count, "covered", in: 0...16)
        for (i, c) in covered.enumerated() { try PeerInput.check(c, "covered[\(i)]", maxBytes: 32) }
        try PeerInput.check(hint, "hint", maxBytes: 512)
    }
}

extension CaptureResultWire: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(job, "job", maxBytes: FieldLimits.identifier)
        try PeerInput.check(reason, "reason", maxBytes: 1024)
        try PeerInput.check(templates.count, "templates", in: 0...32)
        for (i, t) in templates.enumerated() {
            try PeerInput.check(t.modelID, "templates[\(i)].modelID", maxBytes: FieldLimits.identifier)
            try PeerInput.check(t.pose, "templates[\(i)].pose", maxBytes: 32)
            try PeerInput.check(t.embedding.count, "templates[\(i)].embedding", in: 0...(64 << 10))
            for (name, v) in [("yaw", t.yaw), ("noseDrop", t.noseDrop), ("roll", t.roll), ("interEyeDistance", t.interEyeDistance),
                              ("sharpness", t.sharpness), ("detectionScore", t.detectionScore)] {
                try PeerInput.check(v, "templates[\(i)].\(name)", in: -1e6...1e6)
            }
            try PeerInput.check(t.frame, "templates[\(i)].frame", in: 0...Int(Int32.max))
        }
        try PeerInput.check(frames, "frames", in: 0...Int(Int32.max))
        try PeerInput.check(usable, "usable", in: 0...Int(Int32.max))
        try PeerInput.check(seconds, "seconds", in: 0...86_400)
        try PeerInput.check(liveness, "liveness", maxBytes: 32)
        if let s = livenessScore { try PeerInput.check(s, "livenessScore", in: -1e6...1e6) }
        try PeerInput.check(livenessNote, "livenessNote", maxBytes: 1024)
    }
}

// MARK: the admin API

extension AdminPersonAdd: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(name, "name", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(externalID, "externalID", maxBytes: FieldLimits.identifier)
    }
}

extension AdminPersonRef: CheckedMessage {
    public func checkFields() throws(InvalidField) { try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4) }
}

extension AdminPersonStatus: CheckedMessage {
    public func checkFields() throws(InvalidField) { try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4) }
}

extension AdminBadge: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(credential, "credential", maxBytes: 64)
        try PeerInput.check(format, "format", maxBytes: 32)
    }
}

extension AdminEnroll: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(sourceName, "sourceName", maxBytes: 1024)
    }
}

extension AdminGrant: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(group, "group", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(zone, "zone", maxBytes: FieldLimits.identifier)
        try PeerInput.check(schedule, "schedule", maxBytes: FieldLimits.identifier)
    }
}

extension AdminGrantRef: CheckedMessage {
    public func checkFields() throws(InvalidField) { try PeerInput.check(id, "id", in: 1...Int64.max) }
}

extension AdminGroupMember: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(group, "group", maxBytes: FieldLimits.name * 4)
    }
}

extension AdminGroupName: CheckedMessage {
    public func checkFields() throws(InvalidField) { try PeerInput.check(name, "name", maxBytes: FieldLimits.name * 4) }
}

extension AdminConfiguration: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(files.count, "files", in: 0...64)
        for (name, text) in files {
            try PeerInput.check(name, "files (a file's name)", maxBytes: 255)
            try PeerInput.check(text, "files[\(name)]", maxBytes: 1 << 20, lines: true)
        }
    }
}

extension AdminCameraEnroll: CheckedMessage {
    public func checkFields() throws(InvalidField) {
        try PeerInput.check(person, "person", maxBytes: FieldLimits.name * 4)
        try PeerInput.check(door, "door", maxBytes: FieldLimits.identifier)
        try PeerInput.check(seconds, "seconds", in: 1...60)
        try PeerInput.check(templates, "templates", in: 1...10)
    }
}
