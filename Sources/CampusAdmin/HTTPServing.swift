import CampusPKI
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

/// What CampusPKI's HTTP servers (the web interfaces, CUHK's OCSP responder) share: checking a port at start, and
/// running a Hummingbird application that reports where it listens.
public enum HTTPServing {
    /// Binds the port and lets it go again, so a server learns at start that it is taken (Hummingbird binds only
    /// when it runs). Another program may still take it in between; then the server's run fails.
    ///
    /// - Throws: The system's bind error.
    public static func checkPortIsFree(host: String, port: Int) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port).get()
        try await channel.close()
    }

    /// Runs `router` on `host:port` until the service group shuts it down, settling `bound` with the address once
    /// it listens (or the error when it cannot).
    ///
    /// Every connection is held to `limits` (``GuardedHTTP1Channel``), and accepting pauses for a second at a time
    /// when it fails for lack of descriptors (``AcceptFailureHandler``), as on the framed ports.
    public static func run<Context: RequestContext>(
        _ router: Router<Context>, host: String, port: Int, limits: HTTPLimits, bound: BoundAddress, what: String,
        logger: Logger
    ) async throws where Context.Source == ApplicationRequestContextSource {
        let gate = HTTPConnectionGate(
            maximumConnections: limits.maximumConnections, maximumPerAddress: limits.maximumConnectionsPerAddress,
            what: what, logger: logger)
        let app = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(responder: responder, limits: limits, gate: gate)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                // Before NIO's own accept back-off, which would leave the event loop spinning (see the handler).
                try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptFailureHandler(logger: logger), position: .first)
                }.get()
                if let address = channel.localAddress { bound.settle(.success(address)) }
            },
            logger: logger
        )
        do {
            try await app.run()
        } catch {
            bound.settle(.failure(error))
            throw error
        }
        bound.settle(.failure(CampusError(.shuttingDown, "\(what) stopped before it listened")))
    }
}
