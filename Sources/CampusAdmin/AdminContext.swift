import Hummingbird

/// The request context of a web interface: the session, once the login check found one, and a POST's form fields.
public struct AdminContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AdminAuthMiddleware`` for every page behind the login.
    public var session: AdminSession?
    /// A POST's `application/x-www-form-urlencoded` fields, read by ``AdminAuthMiddleware`` (it checks the CSRF
    /// token among them).
    public var form: [String: String] = [:]
    /// The client's address, which failed logins are counted by.
    public let client: String

    public init(source: Source) {
        coreContext = .init(source: source)
        client = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
