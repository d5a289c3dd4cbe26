import AsyncHTTPClient
import NIOCore
import NIOPosix

/// The HTTP client Blackboard asks CUHK with (OCSP requests, the revocation list).
///
/// Unlike `HTTPClient.shared`, it does not retry a connection that fails: a responder whose port is closed answers
/// "connection refused" at once, and that failure is the answer, instead of new attempts until the request's
/// deadline (which made every handshake wait the full 5 s). A connection attempt to a host that does not answer at
/// all is given up after ``connectTimeout``.
enum RevocationHTTPClient {
    /// How long one connection attempt may take.
    static let connectTimeout = TimeAmount.seconds(2)
    /// How long an idle connection is kept for the next request: below CUHK's 30 s (`--http-idle-timeout`), so
    /// that the client, not the server, ends an idle connection, and a request seldom goes out on one the server is
    /// closing (``OCSPHTTPRequester`` asks once more when that happens).
    static let idleTimeout = TimeAmount.seconds(15)
    /// How many connections to one responder may be open at once.
    static let maximumConnectionsPerResponder = 64

    /// What the client is made with.
    static var configuration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: connectTimeout)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.idleTimeout = idleTimeout
        // During a deadline rush many handshakes ask at once; with the default of 8 connections they queue, and a
        // request that waits in the queue longer than the connection timeout fails although the responder is fine.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maximumConnectionsPerResponder
        return configuration
    }

    /// One client for the process, never shut down, as `HTTPClient.shared` is.
    static let shared = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
}
