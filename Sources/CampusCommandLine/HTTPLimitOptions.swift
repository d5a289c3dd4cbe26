import ArgumentParser
import CampusAdmin
import NIOCore

/// The options of `cuhk serve` and `blackboard serve` for their HTTP ports (CUHK's OCSP responder, the web
/// interfaces): the same four on both.
public struct HTTPLimitOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp("Seconds an HTTP connection may stay silent between requests before it is closed."))
    public var httpIdleTimeout: Int = HTTPLimits.defaultIdleTimeoutSeconds

    @Option(
        help: ArgumentHelp(
            "Seconds an HTTP request's line and header fields may take to arrive, counted from its first byte.",
            discussion: "A request whose head is late gets 408; its body then has as long again."))
    public var httpHeaderTimeout: Int = HTTPLimits.defaultHeaderTimeoutSeconds

    @Option(
        help: ArgumentHelp(
            "Most connections served at once on each HTTP port.",
            discussion: "A connection beyond them gets 503 and is closed."))
    public var httpMaxConnections: Int = HTTPLimits.defaultMaximumConnections

    @Option(
        help: ArgumentHelp(
            "Most connections served at once from one address (an IPv6 /64) on each HTTP port; 0: no limit.",
            discussion: "One more from that address gets 503 and is closed."))
    public var httpMaxConnectionsPerAddress: Int = HTTPLimits.defaultMaximumConnectionsPerAddress

    public init() {}

    public func validate() throws {
        guard httpIdleTimeout > 0, httpHeaderTimeout > 0, httpMaxConnections > 0 else {
            throw ValidationError(
                "--http-idle-timeout, --http-header-timeout and --http-max-connections must be positive")
        }
        guard httpMaxConnectionsPerAddress >= 0 else {
            throw ValidationError("--http-max-connections-per-address must be 0 (no limit) or more")
        }
    }

    /// The limits these options give.
    public var limits: HTTPLimits {
        HTTPLimits(
            idleTimeout: .seconds(Int64(httpIdleTimeout)), headerTimeout: .seconds(Int64(httpHeaderTimeout)),
            maximumConnections: httpMaxConnections, maximumConnectionsPerAddress: httpMaxConnectionsPerAddress)
    }
}
