import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A TCP server that speaks frames and hands each connection to a handler in its own task.
///
/// CUHK and Blackboard are both one of these with a different handler. One connection's failure never reaches
/// another: the handler's error is logged, sent to that peer as an error frame, and that connection is closed.
/// On graceful shutdown the server stops accepting and waits for the connections in flight, which end by
/// themselves or by their timeouts.
public final class FramedServer: Service, Sendable {
    /// Where and how the server listens.
    public struct Configuration: Sendable {
        /// The address to bind.
        public var host: String
        /// The port to bind; 0 picks a free one (see ``FramedServer/listeningAddress()``).
        public var port: Int
        /// The largest payload accepted from a peer, in bytes.
        public var maximumFrameSize: Int
        /// How long a new connection may stay silent.
        public var timeout: TimeAmount
        /// How many connections are served at once; a peer beyond that gets `server-busy`.
        public var maximumConnections: Int
        /// The listen backlog.
        public var backlog: Int32

        public init(
            host: String = "127.0.0.1",
            port: Int,
            maximumFrameSize: Int = 64 * 1024,
            timeout: TimeAmount = .seconds(10),
            maximumConnections: Int = 4096,
            backlog: Int32 = 1024
        ) {
            self.host = host
            self.port = port
            self.maximumFrameSize = maximumFrameSize
            self.timeout = timeout
            self.maximumConnections = maximumConnections
            self.backlog = backlog
        }
    }

    /// Serves one connection. Throwing a ``CampusError`` sends it to the peer before the connection closes.
    public typealias Handler = @Sendable (FrameChannel, Logger) async throws -> Void

    private let configuration: Configuration
    private let firstExpected: String
    private let logger: Logger
    private let handler: Handler
    private let group: any EventLoopGroup
    private let bound: EventLoopPromise<SocketAddress>
    private let activeConnections = Atomic<Int>(0)

    /// - Parameters:
    ///   - configuration: Address, limits and timeout.
    ///   - firstExpected: What a client sends first, named in the timeout error.
    ///   - logger: Receives one line per connection event; never keys.
    ///   - group: The event loops to use.
    ///   - handler: Serves one connection.
    public init(
        configuration: Configuration,
        firstExpected: String,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handler: @escaping Handler
    ) {
        self.configuration = configuration
        self.firstExpected = firstExpected
        self.logger = logger
        self.handler = handler
        self.group = group
        self.bound = group.next().makePromise(of: SocketAddress.self)
    }

    /// The address the server listens on, once it does.
    ///
    /// - Throws: The bind error, if the server could not listen.
    public func listeningAddress() async throws -> SocketAddress {
        try await bound.futureResult.get()
    }

    /// Listens and serves until cancelled or gracefully shut down.
    public func run() async throws {
        let configuration = configuration
        let firstExpected = firstExpected
        let serverChannel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: configuration.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                // A peer that half-closes (or ends inside a frame) still gets its error frame.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try FramePipeline.configure(
                            channel,
                            maximumFrameSize: configuration.maximumFrameSize,
                            timeout: configuration.timeout,
                            waitingFor: firstExpected
                        )
                    }
                }
        } catch {
            bound.fail(error)
            throw error
        }
        if let address = serverChannel.channel.localAddress {
            bound.succeed(address)
        } else {
            bound.fail(CampusError(.internalError, "the listening socket has no local address"))
        }

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await serverChannel.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            serverChannel.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        var logger = logger
        logger[metadataKey: "peer"] = "\(connection.channel.remoteAddress?.description ?? "?")"
        let count = activeConnections.add(1, ordering: .relaxed).newValue
        defer { activeConnections.subtract(1, ordering: .relaxed) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                let frames = FrameChannel(inbound: inbound, outbound: outbound, channel: connection.channel)
                guard count <= configuration.maximumConnections else {
                    let refusal = CampusError(
                        .serverBusy,
                        "the server is at its limit of \(configuration.maximumConnections) connections; try again"
                    )
                    logger.warning("refused connection", metadata: ["error": "\(refusal)"])
                    try await frames.send(.error(refusal))
                    await Self.lingerBeforeClose(connection.channel)
                    return
                }
                do {
                    try await handler(frames, logger)
                } catch let error as CampusError {
                    if error.code == .connectionClosed {
                        logger.info("connection ended early", metadata: ["error": "\(error)"])
                    } else {
                        logger.warning("refused", metadata: ["error": "\(error)"])
                        _ = try? await frames.send(.error(error))
                        await Self.lingerBeforeClose(connection.channel)
                    }
                } catch {
                    logger.error("connection failed", metadata: ["error": "\(error)"])
                    _ = try? await frames.send(
                        .error(CampusError(.internalError, "the server could not complete the request")))
                    await Self.lingerBeforeClose(connection.channel)
                }
            }
        } catch {
            logger.debug("connection closed with error", metadata: ["error": "\(error)"])
        }
    }

    /// After an error frame: stop sending, and give the peer up to a second to read the frame and close.
    ///
    /// Closing at once while the peer's unread bytes sit in the socket would make the kernel send a TCP reset,
    /// which can destroy the error frame before the peer reads it.
    static func lingerBeforeClose(_ channel: any Channel) async {
        try? await channel.close(mode: .output)
        let timer = channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        timer.cancel()
    }
}
