import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP server that speaks frames and hands each connection to a handler in its own task.
///
/// CUHK and Blackboard are both one of these with a different handler. One connection's failure never reaches
/// another: an error while setting a connection up closes that connection only, and the handler's error is
/// logged, sent to that peer as an error frame, and that connection is closed.
///
/// On graceful shutdown the server stops accepting at once and lets the connections in flight go on for
/// ``Configuration/shutdownGrace``; then (or at once, with ``endConnectionsNow()``) each remaining connection is
/// failed with `shutting-down`. The handlers see that error at their next read, finish what they were storing,
/// and the peer receives the error frame.
public final class FramedServer: Service, Sendable {
    /// Where and how the server listens.
    public struct Configuration: Sendable {
        /// The address to bind.
        public var host: String
        /// The port to bind; 0 picks a free one (see ``FramedServer/listeningAddress()``).
        public var port: Int
        /// The largest payload accepted from a peer, in bytes.
        public var maximumFrameSize: Int
        /// Smaller limits that apply to each connection until its handler raises them
        /// (``FrameChannel/raiseFrameLimit(to:)``); `nil` applies ``maximumFrameSize`` from the start.
        public var initialFrameLimits: FramePipeline.InitialLimits?
        /// How long a new connection may stay silent.
        public var timeout: TimeAmount
        /// How many connections are served at once; a peer beyond that gets `server-busy`.
        public var maximumConnections: Int
        /// How many connections one client address (an IPv4 address, or an IPv6 /64) may have that have proven
        /// nothing yet: an ``Serving/opened(_:)`` connection until its opener returns, a ``Serving/whole(_:)`` one
        /// as long as it is served. A further one gets `server-busy`. The address is the one a trusted load balancer
        /// names, if any. 0: no limit.
        public var maximumUnprovenPerAddress: Int
        /// The listen backlog.
        public var backlog: Int32
        /// How long connections in flight may go on after a graceful shutdown begins.
        public var shutdownGrace: TimeAmount
        /// The load balancers whose connections begin with a PROXY protocol version 2 header naming the client
        /// (``ProxyProtocol``); empty: none.
        public var proxyProtocolPeers: ProxyProtocol.TrustedPeers
        /// How long a connection refused at a limit may wait for its peer to read the error frame and close, while
        /// no more than ``FramedServer/maximumLingeringRefusals`` wait so.
        public var refusalLinger = FramedServer.defaultLinger

        public init(
            host: String = "127.0.0.1",
            port: Int,
            maximumFrameSize: Int = 64 * 1024,
            initialFrameLimits: FramePipeline.InitialLimits? = nil,
            timeout: TimeAmount = .seconds(10),
            maximumConnections: Int = ConnectionLimit.defaultMaximumConnections,
            maximumUnprovenPerAddress: Int = 0,
            backlog: Int32 = 1024,
            shutdownGrace: TimeAmount = .seconds(Int64(ConnectionLimit.defaultShutdownGraceSeconds)),
            proxyProtocolPeers: ProxyProtocol.TrustedPeers = .none
        ) {
            self.host = host
            self.port = port
            self.maximumFrameSize = maximumFrameSize
            self.initialFrameLimits = initialFrameLimits
            self.timeout = timeout
            self.maximumConnections = maximumConnections
            self.maximumUnprovenPerAddress = maximumUnprovenPerAddress
            self.backlog = backlog
            self.shutdownGrace = shutdownGrace
            self.proxyProtocolPeers = proxyProtocolPeers
        }
    }

    /// Serves one connection. Throwing a ``CampusError`` sends it to the peer before the connection closes.
    public typealias Handler = @Sendable (FrameChannel, Logger) async throws -> Void

    /// Opens a connection that may then stay open for long, mostly waiting for its peer (a session): returns what
    /// serves the rest of it, or `nil` when the connection is done. Throwing a ``CampusError`` sends it to the peer
    /// before the connection closes.
    public typealias Opener = @Sendable (FrameChannel, Logger) async throws -> (any OpenedConnection)?

    /// The rest of a connection an ``Opener`` opened, served in the connection's own task.
    ///
    /// A protocol of classes rather than a closure: calling a closure that came back through the child task's
    /// generic result goes through reabstraction thunks, each one more async frame for as long as the connection is
    /// open, and a class's existential is two words where another's is five.
    public protocol OpenedConnection: AnyObject, Sendable {
        /// Serves the rest of the connection. Throwing a ``CampusError`` sends it to the peer before the connection
        /// closes.
        func serve(_ frames: FrameChannel) async throws
    }

    /// How the server serves each connection.
    public enum Serving: Sendable {
        /// The whole connection in the connection's task.
        case whole(Handler)
        /// Opened in a child task, whose async frames end with it; then continued in the connection's task.
        ///
        /// A task's allocator keeps the slabs of the deepest point its task reached for as long as the task lives.
        /// A session's task lives as long as the session, most of it waiting for the peer; so the deep, short work
        /// of opening it (a handshake, a certificate's verification) runs in a child task, and the connection's
        /// task only ever reaches the depth of waiting for the next frame.
        case opened(Opener)
    }

    private struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
        var ending = false
        var refusals = RefusalReports()
    }

    private let configuration: Configuration
    private let firstExpected: String
    private let logger: Logger
    private let serving: Serving
    private let group: any EventLoopGroup
    private let bound: EventLoopPromise<SocketAddress>
    private let state = Mutex(State())
    private let listener: Listener?
    private let unproven: UnprovenConnections
    private let lingeringRefusals = Atomic<Int>(0)

    /// How long a connection ended by an error frame waits for its peer to read it and close.
    public static let defaultLinger = TimeAmount.seconds(1)
    /// How many connections refused at a limit (``Configuration/maximumConnections``, or their address's) may wait
    /// for their peers at once; a further one is closed as soon as its error frame is written. Otherwise a client
    /// opening connections faster than they linger would hold a second's worth of them, every place of the cap
    /// included, in refused connections alone.
    public static let maximumLingeringRefusals = 64

    /// A server that serves each connection whole with `handler`, in the connection's task; the other parameters
    /// are those of ``init(configuration:firstExpected:logger:group:listener:serving:)``.
    public convenience init(
        configuration: Configuration,
        firstExpected: String,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        listener: Listener? = nil,
        handler: @escaping Handler
    ) {
        self.init(
            configuration: configuration, firstExpected: firstExpected, logger: logger, group: group,
            listener: listener, serving: .whole(handler))
    }

    /// - Parameters:
    ///   - configuration: Address, limits and timeout.
    ///   - firstExpected: What a client sends first, named in the timeout error.
    ///   - logger: Receives one line per connection event; never keys.
    ///   - group: The event loops to use.
    ///   - listener: A socket bound already with ``listen(configuration:firstExpected:logger:group:)``; when `nil`,
    ///     ``run()`` binds one.
    ///   - serving: How each connection is served: whole by a handler, or opened and then continued.
    public init(
        configuration: Configuration,
        firstExpected: String,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        listener: Listener? = nil,
        serving: Serving
    ) {
        self.listener = listener
        self.configuration = configuration
        self.firstExpected = firstExpected
        self.logger = logger
        self.serving = serving
        self.group = group
        self.bound = group.next().makePromise(of: SocketAddress.self)
        self.unproven = UnprovenConnections(limit: max(0, configuration.maximumUnprovenPerAddress))
    }

    /// The address the server listens on, once it does.
    ///
    /// - Throws: The bind error, if the server could not listen.
    public func listeningAddress() async throws -> SocketAddress {
        try await bound.futureResult.get()
    }

    /// How many connections are open now.
    public var openConnections: Int { state.withLock { $0.connections.count } }

    /// An accepted connection, set up; with the client's address to come when a load balancer names it.
    struct Accepted: Sendable {
        let connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        /// Completed by the connection's ``ProxyHeaderHandler`` with the client's address (`nil`: the connection's
        /// own); `nil` when the peer is not a trusted load balancer.
        let proxiedSource: EventLoopFuture<SocketAddress?>?
    }

    /// A bound listening socket, made before the server (``FramedServer/listen(configuration:firstExpected:logger:group:)``)
    /// so that a program can find out that its port is taken before it creates anything.
    public struct Listener: Sendable {
        let channel: NIOAsyncChannel<Accepted?, Never>
        /// The connections it accepted that the accept loop has not taken yet.
        let unserved: UnservedConnections

        /// The bound address.
        public var address: SocketAddress? { channel.channel.localAddress }
    }

    /// Binds the listening socket.
    ///
    /// - Throws: The system's bind error (`address already in use`, say); see ``NetworkFailure``.
    public static func listen(
        configuration: Configuration,
        firstExpected: String,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Listener {
        let unserved = UnservedConnections()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // Placed before NIO's accept back-off, which does not stop the spinning (see the handler).
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptFailureHandler(logger: logger))
                }
            }
            .bind(host: configuration.host, port: configuration.port) { channel in
                // A connection that cannot be set up (a socket option refused, or reset at once) is closed and
                // skipped. Its options are set here rather than as NIO child channel options: a child option's
                // failure reaches the accept loop as an error, which would end the whole server.
                channel.eventLoop.makeCompletedFuture { () -> Accepted? in
                    do {
                        let options = channel.syncOptions
                        // TCP_NODELAY is a TCP-level option. (Set at the socket level, its number means SO_DEBUG,
                        // which only root may set: every connection of an ordinary user's server failed.)
                        try options?.setOption(.tcpOption(.tcp_nodelay), value: 1)
                        // A peer that half-closes (or ends inside a frame) still gets its error frame.
                        try options?.setOption(.allowRemoteHalfClosure, value: true)
                        try options?.setOption(.recvAllocator, value: Self.receiveBuffers)
                        // One read per wake-up: NIO keeps as many receive buffers per connection as reads it may
                        // make per wake-up, and an idle session would keep all of them.
                        try options?.setOption(.maxMessagesPerRead, value: 1)
                        var proxiedSource: EventLoopFuture<SocketAddress?>?
                        if configuration.proxyProtocolPeers.contains(channel.remoteAddress) {
                            proxiedSource = try ProxyHeaderHandler.add(to: channel, within: configuration.timeout)
                        }
                        let connection = try FramePipeline.configure(
                            channel,
                            maximumFrameSize: configuration.maximumFrameSize,
                            initialLimits: configuration.initialFrameLimits,
                            timeout: configuration.timeout,
                            waitingFor: firstExpected
                        )
                        unserved.hold(connection)
                        return Accepted(connection: connection, proxiedSource: proxiedSource)
                    } catch {
                        logger.warning("could not set up a connection; closed it", metadata: ["error": "\(error)"])
                        channel.close(promise: nil)
                        return nil
                    }
                }
            }
        return Listener(channel: channel, unserved: unserved)
    }

    /// How much each read asks of the socket: from 512 bytes, doubled after a read that fills it (up to 64 KiB),
    /// halved after two reads that fill less than half. A connection keeps its receive buffer while it is idle, at
    /// the largest size it needed so far: NIO's default start of 2048 bytes kept 4 KiB per idle session.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)

    /// Listens (unless given a ``Listener``) and serves until cancelled or gracefully shut down.
    public func run() async throws {
        let listener: Listener
        do {
            if let given = self.listener {
                listener = given
            } else {
                listener = try await Self.listen(
                    configuration: configuration, firstExpected: firstExpected, logger: logger, group: group)
            }
        } catch {
            bound.fail(error)
            throw error
        }
        let serverChannel = listener.channel
        let unserved = listener.unserved
        if let address = serverChannel.channel.localAddress {
            bound.succeed(address)
        } else {
            bound.fail(CampusError(.internalError, "the listening socket has no local address"))
        }
        let closeAtOnce = state.withLock { state in
            state.serverChannel = serverChannel.channel
            return state.shuttingDown
        }
        if closeAtOnce { serverChannel.channel.close(promise: nil) }

        try await withGracefulShutdownHandler {
            // The accepting task runs on the listening channel's event loop, which hands it each connection; each
            // connection's tasks run where its channel's events arrive (see EventLoopTaskExecutor).
            var executors = EventLoopTaskExecutor.PerLoop()
            try await withTaskExecutorPreference(executors[serverChannel.channel.eventLoop]) {
                try await withThrowingDiscardingTaskGroup { group in
                    try await serverChannel.executeThenClose { connections in
                        // A connection accepted while the listening socket closed may miss the loop: it is closed
                        // when the loop ends, rather than dropped (see UnservedConnections).
                        defer { unserved.end() }
                        for try await connection in connections {
                            guard let connection else { continue }
                            unserved.take(connection.connection)
                            let executor = executors[connection.connection.channel.eventLoop]
                            group.addTask(executorPreference: executor) { await self.serve(connection) }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
    }

    /// Stops accepting, and ends the connections still open after the grace period.
    func beginShutdown() {
        let (channel, first) = state.withLock { state in
            defer { state.shuttingDown = true }
            return (state.serverChannel, !state.shuttingDown)
        }
        guard first else { return }
        channel?.close(promise: nil)
        let open = openConnections
        logger.notice(
            "shutting down: no new connections",
            metadata: ["open": "\(open)", "grace": "\(configuration.shutdownGrace.nanoseconds / 1_000_000_000) s"]
        )
        guard open > 0 else { return }
        group.next().scheduleTask(in: configuration.shutdownGrace) { [self] in
            endConnectionsNow()
        }
    }

    /// Ends every open connection with `shutting-down` now (the second signal, or the end of the grace period).
    ///
    /// Each handler sees the error at its next read; what it already verified is still committed and
    /// acknowledged before the error frame goes out.
    public func endConnectionsNow() {
        let channels = state.withLock { state in
            state.shuttingDown = true
            state.ending = true
            return Array(state.connections.values)
        }
        state.withLock { $0.serverChannel }?.close(promise: nil)
        if !channels.isEmpty {
            logger.notice("ending the connections still open", metadata: ["count": "\(channels.count)"])
        }
        for channel in channels {
            channel.triggerUserOutboundEvent(IdleTimeoutHandler.Fail(Self.shuttingDownError), promise: nil)
        }
    }

    static let shuttingDownError = CampusError(
        .shuttingDown, "the server is shutting down; what was acknowledged is stored, try again later")

    /// Why a new connection is not served.
    private enum Refusal {
        case shuttingDown
        case atLimit
    }

    // The functions below that run while a connection is open keep their async frames small: a connection's task
    // lives as long as the connection, and its allocator keeps the slabs of its deepest point. What is needed only
    // at the start, at the end or on an error is in functions of their own, kept out of line.

    /// Serves one connection, in the connection's task.
    private func serve(_ accepted: Accepted) async {
        let channel = accepted.connection.channel
        let refusal = admit(channel)
        defer { release(channel) }
        do {
            try await accepted.connection.executeThenClose { inbound, outbound in
                guard let proxiedSource = accepted.proxiedSource else {
                    await serve(Self.frames(inbound, outbound, channel), refusing: refusal)
                    return
                }
                await serve(inbound, outbound, channel, from: proxiedSource, refusing: refusal)
            }
        } catch {
            logClosing(channel, error)
        }
    }

    /// Made outside the async closure, whose temporaries would stay in the task's allocator until the closure ends.
    @inline(never)
    private static func frames(
        _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        _ channel: any Channel, remoteAddress: SocketAddress? = nil
    ) -> FrameChannel {
        FrameChannel(inbound: inbound, outbound: outbound, channel: channel, remoteAddress: remoteAddress)
    }

    /// A load balancer's connection: its PROXY protocol header first, then the connection as the client's.
    @inline(never)
    private func serve(
        _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        _ channel: any Channel, from proxiedSource: EventLoopFuture<SocketAddress?>, refusing refusal: Refusal?
    ) async {
        let source: SocketAddress?
        do {
            source = try await proxiedSource.get()
        } catch {
            await answer(error, on: Self.frames(inbound, outbound, channel))
            return
        }
        await serve(Self.frames(inbound, outbound, channel, remoteAddress: source), refusing: refusal)
    }

    /// The connection's frames; every error ends in ``answer(_:on:channel:logger:)``.
    ///
    /// The connection's logger (with the peer's address) is made where it is needed rather than kept in this frame:
    /// a continued session keeps its own. Inlined into the closure that calls it: one async frame fewer for as long as
    /// the connection is open.
    @inline(__always)
    private func serve(_ frames: FrameChannel, refusing refusal: Refusal?) async {
        if let refusal {
            await refuse(frames, refusal)
            return
        }
        do {
            switch serving {
            case .whole(let handler):
                try await serve(frames, by: handler)
            case .opened(let opener):
                guard let rest = try await open(frames, with: opener) else { return }
                try await rest.serve(frames)
            }
        } catch {
            await answer(error, on: frames)
        }
    }

    @inline(never)
    private func serve(_ frames: FrameChannel, by handler: Handler) async throws {
        let source = try admitUnproven(frames)
        defer { if let source { unproven.release(source) } }
        try await handler(frames, connectionLogger(frames.remoteSocketAddress))
    }

    /// Counts the connection in among its address's unproven ones: its address, or `nil` when nothing is counted.
    ///
    /// - Throws: ``UnprovenConnections/Refused`` (`server-busy`) when the address has as many as
    ///   ``Configuration/maximumUnprovenPerAddress``.
    private func admitUnproven(_ frames: FrameChannel) throws -> SourceAddress? {
        guard unproven.limit > 0, let address = frames.remoteSocketAddress, let source = SourceAddress(address) else {
            return nil
        }
        try unproven.admit(source, logger: logger)
        return source
    }

    /// Counts the connection in; why it is not served, if it is not.
    @inline(never)
    private func admit(_ channel: any Channel) -> Refusal? {
        let (count, ending) = state.withLock { state in
            state.connections[ObjectIdentifier(channel)] = channel
            return (state.connections.count, state.ending)
        }
        if ending { return .shuttingDown }
        return count > configuration.maximumConnections ? .atLimit : nil
    }

    @inline(never)
    private func release(_ channel: any Channel) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    @inline(never)
    private func logClosing(_ channel: any Channel, _ error: any Error) {
        connectionLogger(channel.remoteAddress).debug("connection closed with error", metadata: ["error": "\(error)"])
    }

    /// Sends a connection that is not served the reason, and closes it.
    @inline(never)
    private func refuse(_ frames: FrameChannel, _ reason: Refusal) async {
        let refusal =
            switch reason {
            case .shuttingDown: Self.shuttingDownError
            case .atLimit:
                CampusError(
                    .serverBusy,
                    "the server is at its limit of \(Count.of(configuration.maximumConnections, "connection")); try again"
                )
            }
        // Logged once per burst, with the number refused: a flood of connections does not fill the log.
        let now = NIODeadline.now()
        if let count = state.withLock({ $0.refusals.refused(at: now) }) {
            connectionLogger(frames.remoteSocketAddress).warning(
                "refusing connections", metadata: ["error": "\(refusal)", "refused-since-last-report": "\(count)"])
        }
        await sendRefusal(refusal, on: frames)
    }

    /// Sends a refused connection its error frame, and waits for the peer to read it if few others wait so.
    private func sendRefusal(_ refusal: CampusError, on frames: FrameChannel) async {
        _ = try? await frames.send(.error(refusal))
        let waiting = lingeringRefusals.wrappingAdd(1, ordering: .relaxed).newValue
        defer { lingeringRefusals.wrappingSubtract(1, ordering: .relaxed) }
        guard waiting <= Self.maximumLingeringRefusals else {
            try? await frames.channel.close()
            return
        }
        await Self.lingerBeforeClose(frames.channel, for: configuration.refusalLinger)
    }

    @inline(never)
    private func answer(_ error: any Error, on frames: FrameChannel) async {
        if let refused = error as? UnprovenConnections.Refused {
            // Logged where it was counted, once per burst.
            await sendRefusal(refused.error, on: frames)
            return
        }
        await Self.answer(
            error, on: frames, channel: frames.channel, logger: connectionLogger(frames.remoteSocketAddress))
    }

    /// Runs `opener` in a child task, which reads the connection until it returns; until then the connection counts
    /// among its address's unproven ones.
    @inline(never)
    private func open(_ frames: FrameChannel, with opener: @escaping Opener) async throws -> (any OpenedConnection)? {
        let source = try admitUnproven(frames)
        defer { if let source { unproven.release(source) } }
        let lent = FrameChannel.Lent(frames)
        let logger = connectionLogger(frames.remoteSocketAddress)
        return try await withThrowingTaskGroup(of: (any OpenedConnection)?.self) { group in
            group.addTask { try await opener(lent.channel, logger) }
            return try await group.next() ?? nil
        }
    }

    /// The server's logger with the peer's address.
    @inline(never)
    private func connectionLogger(_ peer: SocketAddress?) -> Logger {
        var logger = logger
        // The address itself: its text is made only for a line that is written.
        logger[metadataKey: "peer"] = peer.map { .stringConvertible($0) } ?? "?"
        return logger
    }

    /// Tells the peer why its connection ends, as an error frame, unless it went away itself.
    private static func answer(_ error: any Error, on frames: FrameChannel, channel: any Channel, logger: Logger) async
    {
        let refusal: CampusError
        switch error {
        case let error as CampusError:
            if error.code == .connectionClosed {
                logger.info("connection ended early", metadata: ["error": "\(error)"])
                return
            }
            logger.warning("refused", metadata: ["error": "\(error)"])
            refusal = error
        case let error as StorageUnavailable:
            // The database is away (restarting, failing over): the client may try again in a moment.
            refusal = CampusError(unavailable: error)
            logger.warning("refused", metadata: ["error": "\(refusal)"])
        default:
            logger.error("connection failed", metadata: ["error": "\(error)"])
            refusal = CampusError(.internalError, "the server could not complete the request")
        }
        _ = try? await frames.send(.error(refusal))
        await lingerBeforeClose(channel)
    }

    /// After an error frame: stop sending, and give the peer up to a second to read the frame and close.
    ///
    /// Closing at once while the peer's unread bytes sit in the socket would make the kernel send a TCP reset,
    /// which can destroy the error frame before the peer reads it.
    static func lingerBeforeClose(_ channel: any Channel, for linger: TimeAmount = defaultLinger) async {
        try? await channel.close(mode: .output)
        let timer = channel.eventLoop.scheduleTask(in: linger) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        timer.cancel()
    }
}

/// Pauses accepting for a second when `accept` fails for lack of resources (out of file descriptors, say), and
/// logs such failures once per burst; logs and stops any other error of an accepted connection's setup.
///
/// Without the pause the listening socket stays readable (its backlog is full of waiting connections), every
/// `accept` fails at once, and the event loop spins at 100 % CPU: NIO's own accept back-off delays the next read
/// request but leaves the socket registered for reading. Turning `autoRead` off unregisters it; turning it back on
/// after the pause registers it again.
public final class AcceptFailureHandler: ChannelInboundHandler {
    public typealias InboundIn = any Channel
    public typealias InboundOut = any Channel

    /// How long accepting pauses after a failure.
    static let pause = TimeAmount.seconds(1)
    /// A burst ends after this long without an accept error.
    static let quietPeriod = TimeAmount.seconds(10)

    private let logger: Logger
    private var lastFailure: NIODeadline?
    private var failuresSinceReport = 0
    private var paused = false

    /// - Parameter logger: Receives one line per burst of failures.
    public init(logger: Logger) {
        self.logger = logger
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, Self.isResourceShortage(error.errnoCode) else {
            // One accepted connection could not be set up (a socket option refused, say). NIO has closed it; the
            // error goes no further, since reaching the accept loop would end the whole server.
            logger.warning("could not set up an accepted connection; closed it", metadata: ["error": "\(error)"])
            return
        }
        let now = NIODeadline.now()
        if let last = lastFailure, now - last <= Self.quietPeriod {
            failuresSinceReport += 1
        } else {
            logger.error(
                "cannot accept connections; pausing accepts for 1 s at a time",
                metadata: [
                    "error": "\(error)",
                    "hint": "out of file descriptors or memory: raise `ulimit -n` or lower --max-connections",
                    "failures-since-last-report": "\(failuresSinceReport)",
                ]
            )
            failuresSinceReport = 0
        }
        lastFailure = now
        guard !paused else { return }
        paused = true
        let channel = context.channel
        try? channel.syncOptions?.setOption(.autoRead, value: false)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.pause) {
            loopBound.value.paused = false
            try? channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    static func isResourceShortage(_ code: Int32) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }
}
