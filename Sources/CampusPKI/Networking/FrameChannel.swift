import NIOCore

/// One connection, seen as a sequence of ``WireMessage`` values in each direction.
///
/// Both servers and the client use it inside `NIOAsyncChannel.executeThenClose`. It is not `Sendable`: one task
/// owns a connection.
public final class FrameChannel {
    /// Unchecked: one task reads at a time by design (see ``Lent``), and a checked access would keep its record in
    /// the async frame of every read, the frame an idle connection waits in.
    @exclusivity(unchecked) private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let channel: any Channel
    /// The sending half, which another task may use while this one reads.
    public let writer: FrameWriter

    /// Wraps the two halves of an `NIOAsyncChannel` built by ``FramePipeline``.
    ///
    /// - Parameter remoteAddress: The peer's address when it is not the connection's own: the client a load
    ///   balancer named in its PROXY protocol header.
    public init(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        channel: any Channel,
        remoteAddress: SocketAddress? = nil
    ) {
        self.inbound = inbound.makeAsyncIterator()
        self.channel = channel
        self.remoteSocketAddress = remoteAddress ?? channel.remoteAddress
        self.writer = FrameWriter(outbound: outbound, channel: channel)
    }

    /// The connection lent to a child task that does all of its reading for a while, such as a handshake run in a
    /// task of its own so that its deep async frames end with it.
    ///
    /// Only for a child task the owner awaits before it touches the connection again: one task still reads at a
    /// time, which is what keeps a `FrameChannel` from being `Sendable`.
    public struct Lent: @unchecked Sendable {
        public let channel: FrameChannel

        public init(_ channel: FrameChannel) {
            self.channel = channel
        }
    }

    /// The peer's address, for logs.
    public var remoteAddress: String { remoteSocketAddress?.description ?? "unknown peer" }

    /// The peer's socket address, for per-address limits and logs; `nil` when unknown. Kept from when the connection
    /// was set up: NIO forgets it once the channel is closed.
    public let remoteSocketAddress: SocketAddress?

    /// Waits for the next message.
    ///
    /// - Returns: The message and its payload bytes exactly as received (for the handshake transcript).
    /// - Throws: ``CampusError``: a framing or decoding error, `timeout`, or `connectionClosed` at end of stream.
    public func receive() async throws -> (message: WireMessage, payload: ByteBuffer) {
        let payload = try await receivePayload()
        return (try WireMessage.decode(payload), payload)
    }

    /// Waits for the next frame's payload, undecoded: the session state machines decode what they receive.
    ///
    /// - Throws: ``CampusError``: a framing error, `timeout`, or `connectionClosed` at end of stream.
    public func receivePayload() async throws -> ByteBuffer {
        // The errors are made out of line: an idle connection waits in this frame.
        let payload: ByteBuffer?
        do {
            payload = try await inbound.next()
        } catch {
            throw Self.receiveFailure(error)
        }
        guard let payload else { throw Self.closedByPeer() }
        return payload
    }

    @inline(never)
    private static func receiveFailure(_ error: any Error) -> CampusError {
        if let error = error as? CampusError { return error }
        return CampusError(
            .connectionClosed, "the connection failed (\(NetworkFailure.describe(error)))", cause: error)
    }

    @inline(never)
    private static func closedByPeer() -> CampusError {
        CampusError(.connectionClosed, "the peer closed the connection")
    }

    /// Sends one message.
    ///
    /// - Returns: The payload bytes sent (for the handshake transcript).
    @discardableResult
    public func send(_ message: WireMessage) async throws -> ByteBuffer {
        try await writer.send(message)
    }

    /// The error frame the peer sent before it closed the connection, once writing to it has failed.
    ///
    /// A server sends its error frame and then closes; a client that was writing (not reading) at that moment
    /// learns of the close from a failed write, while the error frame waits unread among the frames already
    /// received. This closes the connection (if it is not closed yet) and reads what is left, so the client can
    /// report the server's code instead of "connection closed".
    ///
    /// - Returns: The first error frame among the frames not read yet, or `nil` if there is none.
    public func errorBeforeClose() async -> CampusError? {
        try? await channel.close()
        while let payload = try? await inbound.next() {
            if case .error(let error) = try? WireMessage.decode(payload) { return error }
        }
        return nil
    }

    /// Lets every frame from now on be as large as `maximumFrameSize` (at most the connection's configured maximum):
    /// Blackboard does this once the peer is authenticated.
    ///
    /// The change is queued on the channel's event loop, not waited for (a round trip through the event loop and
    /// back costs two thread wake-ups): the loop runs its queue in order, so the change takes effect before any frame
    /// written after this call is sent, and so before the peer can answer that frame.
    public func raiseFrameLimit(to maximumFrameSize: Int) {
        channel.triggerUserOutboundEvent(FramePipeline.RaiseFrameLimit(to: maximumFrameSize), promise: nil)
    }

    /// Changes how long the connection may stay silent from now on; queued like ``raiseFrameLimit(to:)``.
    public func setTimeout(_ timeout: TimeAmount, waitingFor phase: String) {
        channel.triggerUserOutboundEvent(IdleTimeoutHandler.SetTimeout(timeout, phase: phase), promise: nil)
    }
}

/// The sending half of a ``FrameChannel``.
public struct FrameWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: any Channel

    /// Sends one message.
    ///
    /// - Returns: The payload bytes sent (for the handshake transcript).
    @discardableResult
    public func send(_ message: WireMessage) async throws -> ByteBuffer {
        let payload = message.encoded(allocator: channel.allocator)
        do {
            try await outbound.write(payload)
        } catch {
            throw CampusError(
                .connectionClosed, "could not send \(message.kind.phrase) (\(NetworkFailure.describe(error)))",
                cause: error)
        }
        return payload
    }

    /// Sends several messages with one flush.
    public func send(contentsOf messages: [WireMessage]) async throws {
        guard !messages.isEmpty else { return }
        do {
            try await outbound.write(contentsOf: messages.map { $0.encoded(allocator: channel.allocator) })
        } catch {
            throw CampusError(
                .connectionClosed,
                "could not send \(Count.of(messages.count, "message")) (\(NetworkFailure.describe(error)))",
                cause: error
            )
        }
    }

    /// Ends the connection's conversation from outside its task: the task sees `error` at its next read (what it has
    /// verified is still stored and acknowledged), and the server then sends it as the error frame, as when the
    /// server shuts down.
    public func interrupt(with error: CampusError) {
        channel.triggerUserOutboundEvent(IdleTimeoutHandler.Fail(error), promise: nil)
    }

    /// Sends `error` and closes the connection, so a task blocked reading from it wakes up.
    public func fail(with error: CampusError) async {
        _ = try? await send(.error(error))
        try? await channel.close()
    }
}
