/// Where a revocation list is found and how often Blackboard asks for it, shared by CUHK (which tells `cuhk revoke`'s
/// user when a revocation takes effect) and Blackboard (which polls).
public enum RevocationListDefaults {
    /// Seconds between two polls of CUHK's revocation list by Blackboard (`blackboard serve --crl-interval`).
    public static let pollIntervalSeconds = 3

    /// The list's path relative to the OCSP responder's URL: `http://HOST:PORT/` gives `http://HOST:PORT/crl`.
    public static let relativePath = "crl"
}
