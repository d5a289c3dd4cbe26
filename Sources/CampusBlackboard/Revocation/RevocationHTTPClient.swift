import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP client Blackboard asks CUHK with (OCSP requests, timestamp requests, the revocation list), and
/// ``fetch(_:timeout:maximumBody:on:gate:)``, which every such request goes through.
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
    /// closing (``fetch(_:timeout:maximumBody:on:gate:)`` sends it once more when that happens).
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

    /// Lets at most as many requests through at once as the pool keeps connections (``RequestGate``): the revocation
    /// list's fetches and what is made without a server's own gate (each ``BlackboardServer`` has one for its OCSP and
    /// timestamp requests).
    static let gate = RequestGate(permits: maximumConnectionsPerResponder)

    /// An answer, its body read.
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// POSTs a DER `body` of `contentType` to `url` with ``fetch(_:timeout:maximumBody:on:gate:)``: an OCSP query or a
    /// timestamp request.
    static func post(
        _ body: [UInt8], contentType: String, to url: String, timeout: TimeAmount, maximumBody: Int,
        on client: HTTPClient = shared, gate: RequestGate = gate
    ) async throws -> Response {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: contentType)
        http.body = .bytes(ByteBuffer(bytes: body))
        return try await fetch(http, timeout: timeout, maximumBody: maximumBody, on: client, gate: gate)
    }

    /// Sends `request` and reads its answer's body (at most `maximumBody` bytes), all within `timeout`.
    ///
    /// - It waits for a permit of `gate` first, and holds it until the body is read, so that it never waits in the
    ///   pool's own queue (see ``RequestGate``).
    /// - It is sent once more, on a new connection, when a kept connection was closed or reset under it (the
    ///   server's idle timeout running out as the request went out): it was not answered, and every request
    ///   Blackboard sends CUHK (an OCSP query, a timestamp request, a fetch of the revocation list) is harmless to
    ///   send twice. Not again once the task is cancelled.
    ///
    /// - Throws: ``RequestGate/Busy``, or what the client throws.
    static func fetch(
        _ request: HTTPClientRequest, timeout: TimeAmount, maximumBody: Int, on client: HTTPClient = shared,
        gate: RequestGate = gate
    ) async throws -> Response {
        let deadline = NIODeadline.now() + timeout
        return try await gate.run(before: deadline) {
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, deadline: deadline)
            } catch {
                guard lostKeptConnection(error), !Task.isCancelled, NIODeadline.now() < deadline else { throw error }
                response = try await client.execute(request, deadline: deadline)
            }
            let body = Array(buffer: try await response.body.collect(upTo: maximumBody))
            return Response(status: response.status, headers: response.headers, body: body)
        }
    }

    /// Whether `error` says that the connection went away under the request (closed or reset by the other side)
    /// rather than that the server could not be reached or did not answer in time.
    static func lostKeptConnection(_ error: any Error) -> Bool {
        switch error {
        case let error as HTTPClientError:
            return error == .remoteConnectionClosed
        case let error as IOError:
            return [ECONNRESET, EPIPE].contains(error.errnoCode)
        case let error as ChannelError:
            return error == .ioOnClosedChannel || error == .eof
        default:
            return false
        }
    }
}
