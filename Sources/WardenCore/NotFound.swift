/// An error that names something missing also names what is there, so the person reading it
/// can pick the right one without opening another file.
public enum NotFound {
    /// "door 'front' is not in the policy; its doors: lab, lobby, server-room".
    public static func message(_ kind: String, _ id: String, _ placeSentence: String, known: some Sequence<String>) -> String {
        let names = known.sorted()
        return "\(kind) '\(id)' \(placeSentence); " + (names.isEmpty ? "it has no \(kind)s" : "its \(kind)s: \(names.joined(separator: ", "))")
    }
}
