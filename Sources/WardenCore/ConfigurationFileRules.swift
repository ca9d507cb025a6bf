/// What a board can write and read of a published configuration file: the one rule the
/// server checks at publishing and a board checks at applying, so the server never accepts
/// what its boards cannot take (a 300-byte policy file name was accepted, and every board's
/// sync then failed on it, holding back a badge revoked after it).
public enum ConfigurationFileRules {
    /// A file name's longest, in bytes (Linux's NAME_MAX).
    public static let maximumNameBytes = 255
    /// What a board reads of a site, pin map or matching file (`BoundedFile.readText`'s default).
    public static let maximumThresholdsBytes = 1 << 20

    /// Why `name` cannot be a file in a board's policy directory, or nil.
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty || name.contains("/") || name.hasPrefix(".") { return "file name '\(DisplayText.escapingControls(name))' must be a plain NAME.yaml" }
        if name.utf8.count > maximumNameBytes { return "file name of \(name.utf8.count) bytes is longer than the \(maximumNameBytes) a board's file system takes" }
        if name.unicodeScalars.contains(where: DisplayText.isControl) { return "file name '\(DisplayText.escapingControls(name))' contains control characters" }
        return nil
    }
}
