import NIOCore

/// What one client may take of a CampusPKI HTTP port (CUHK's OCSP responder, both web interfaces): how long a
/// request may take to arrive, how long a connection may wait for the next one, how large a request's head may be,
/// and how many connections the port serves at once.
///
/// The framed ports have the same discipline (``FramedServer``): without it, idle or slow connections would hold
/// descriptors until the process could accept nothing, enrollment included.
public struct HTTPLimits: Sendable, Equatable {
    /// Seconds a connection may stay silent between requests (keep-alive) before it is closed
    /// (`--http-idle-timeout`).
    public static let defaultIdleTimeoutSeconds = 30
    /// Seconds a request's line and header fields may take to arrive, counted from its first byte; its body, if
    /// any, gets as long again (`--http-header-timeout`).
    public static let defaultHeaderTimeoutSeconds = 20
    /// Connections one HTTP port serves at once (`--http-max-connections`).
    public static let defaultMaximumConnections = 256
    /// Connections one HTTP port serves at once from one address, an IPv4 address or an IPv6 /64
    /// (`--http-max-connections-per-address`): half the port, and more than the 64 one Blackboard opens to CUHK's
    /// OCSP responder at most.
    public static let defaultMaximumConnectionsPerAddress = 128
    /// The longest request line (method, target and version, without its line end), in bytes; a longer one gets
    /// 414.
    public static let defaultMaximumRequestLineBytes = 8 * 1024
    /// The most bytes of header fields (every line after the request line, line ends and the closing empty line
    /// included); more get 431.
    public static let defaultMaximumHeaderBytes = 16 * 1024
    /// The most header fields in one request; more get 431.
    public static let defaultMaximumHeaderFields = 100
    /// How long a refused connection (over the cap, or an oversized or late request) waits for the client to read
    /// the answer and close, before it is closed.
    public static let refusalLinger = TimeAmount.seconds(1)
    /// How many refused connections may wait so at once; beyond that a refused connection is closed at once.
    public static let maximumLingeringRefusals = 64

    /// How long a connection may stay silent between requests.
    public var idleTimeout: TimeAmount
    /// How long a request's line and header fields may take from its first byte, and its body after them.
    public var headerTimeout: TimeAmount
    /// Connections served at once; a connection beyond them gets 503 and is closed.
    public var maximumConnections: Int
    /// Connections served at once from one address; one more from it gets 503 and is closed. 0: no limit.
    public var maximumConnectionsPerAddress: Int
    /// The longest request line, in bytes.
    public var maximumRequestLineBytes: Int
    /// The most bytes of header fields.
    public var maximumHeaderBytes: Int
    /// The most header fields.
    public var maximumHeaderFields: Int

    public init(
        idleTimeout: TimeAmount = .seconds(Int64(HTTPLimits.defaultIdleTimeoutSeconds)),
        headerTimeout: TimeAmount = .seconds(Int64(HTTPLimits.defaultHeaderTimeoutSeconds)),
        maximumConnections: Int = HTTPLimits.defaultMaximumConnections,
        maximumConnectionsPerAddress: Int = HTTPLimits.defaultMaximumConnectionsPerAddress,
        maximumRequestLineBytes: Int = HTTPLimits.defaultMaximumRequestLineBytes,
        maximumHeaderBytes: Int = HTTPLimits.defaultMaximumHeaderBytes,
        maximumHeaderFields: Int = HTTPLimits.defaultMaximumHeaderFields
    ) {
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
        self.maximumRequestLineBytes = maximumRequestLineBytes
        self.maximumHeaderBytes = maximumHeaderBytes
        self.maximumHeaderFields = maximumHeaderFields
    }
}
