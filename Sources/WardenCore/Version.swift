/// This build's version, as controllers report it to the fleet server.
public enum WardenVersion {
    public static let current = "0.19.0"
}
