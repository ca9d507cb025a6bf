/// Text that people type in (names, external ids, operators, groups) and text that Warden
/// prints back. Control characters are refused on the way in, because a newline forges
/// table rows and an escape sequence drives the terminal that shows it; on the way out,
/// anything stored before that rule existed is shown as a visible escape instead.
public enum DisplayText {
    /// C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators and
    /// bidirectional overrides that reorder what a reader sees.
    public static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// The reason `text` is refused as a `what` (e.g. "a name"), or nil when it is fine.
    public static func problem(_ text: String, as what: String, maxLength: Int = 200) -> String? {
        if let bad = text.unicodeScalars.first(where: isControl) {
            return "\(what) may not contain control characters (found U+\(hex(bad.value)))"
        }
        if text.count > maxLength { return "\(what) is longer than \(maxLength) characters" }
        return nil
    }

    /// `text` with each control character written as \u{XX}; with `keepingNewlines`, CR
    /// and LF stay (CSV quotes them).
    public static func escapingControls(_ text: String, keepingNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            if isControl(s), !(keepingNewlines && (s == "\n" || s == "\r")) {
                out.append(contentsOf: "\\u{\(hex(s.value))}".unicodeScalars)
            } else {
                out.append(s)
            }
        }
        return String(out)
    }

    private static func hex(_ v: UInt32) -> String {
        let digits = Array("0123456789ABCDEF")
        var s = "", x = v
        repeat { s = String(digits[Int(x & 0xF)]) + s; x >>= 4 } while x > 0
        return s.count < 2 ? "0" + s : s
    }
}
