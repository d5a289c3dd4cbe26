/// The package's version, shown by every program's `--version`.
public enum CampusPKIVersion {
    public static let current = "1.1.0"
}
