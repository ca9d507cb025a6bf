/// An MQTT topic level (and Home Assistant object id) made from free text, a site or door
/// name: MQTT's wildcards and separators (`+ # /`) and anything outside a plain set become
/// `_`, and capitals fold to small letters, so a name can never widen a subscription or add
/// a level. Two names can fold to one level (`Front.Door`, `front_door`): the policy loader
/// refuses door ids that do, since they would share topics and a Home Assistant device.
public enum TopicLevel {
    public static func of(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        // Byte by byte: a multi-byte character becomes one `_` per byte, still never a separator.
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"): out.append(b)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): out.append(b + 32)
            default: if b < 0x80 || b >= 0xC0 { out.append(UInt8(ascii: "_")) }
            }
        }
        return out.isEmpty ? "_" : String(decoding: out, as: UTF8.self)
    }
}
