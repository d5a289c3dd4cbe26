import NIOCore

/// The channel pipeline both ends use: frames in and out, with a maximum size and an idle timeout.
public enum FramePipeline {
    /// How large the peer's frames may be until the connection's owner raises the limit with ``RaiseFrameLimit``.
    ///
    /// A server that accepts large frames only from an authenticated peer starts small: one limit for the first
    /// frame (the request), another for every frame after it, so a connection that has proven nothing cannot make
    /// the server buffer a large frame.
    public struct InitialLimits: Sendable, Hashable {
        /// The largest first frame.
        public var first: Int
        /// The largest frame after the first, until the limit is raised.
        public var following: Int

        public init(first: Int, following: Int) {
            self.first = first
            self.following = following
        }
    }

    /// A user outbound event that lets every frame from now on have up to `maximumFrameSize` bytes (at most the
    /// maximum the pipeline was configured with).
    public struct RaiseFrameLimit: Sendable {
        public var maximumFrameSize: Int

        public init(to maximumFrameSize: Int) {
            self.maximumFrameSize = maximumFrameSize
        }
    }

    /// Adds the framing handlers and wraps the channel for async use. Call on the channel's event loop.
    ///
    /// - Parameters:
    ///   - channel: A newly accepted or connected channel.
    ///   - maximumFrameSize: The largest payload ever accepted from the peer.
    ///   - initialLimits: Smaller limits that apply until ``RaiseFrameLimit``; `nil` applies `maximumFrameSize`
    ///     from the start.
    ///   - timeout: How long the connection may stay silent before it fails with `timeout`.
    ///   - phase: What the peer is expected to send first, for the timeout's reason.
    public static func configure(
        _ channel: any Channel,
        maximumFrameSize: Int,
        initialLimits: InitialLimits? = nil,
        timeout: TimeAmount,
        waitingFor phase: String
    ) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let limit = FrameSizeLimit(
            first: min(initialLimits?.first ?? maximumFrameSize, maximumFrameSize),
            following: min(initialLimits?.following ?? maximumFrameSize, maximumFrameSize))
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(
            ByteToMessageHandler(FrameDecoder(limit: limit), maximumBufferSize: maximumFrameSize + 4)
        )
        try operations.addHandler(FrameEncoder(limit: limit, maximumFrameSize: maximumFrameSize))
        try operations.addHandler(IdleTimeoutHandler(timeout: timeout, phase: phase))
        return try NIOAsyncChannel(
            wrappingChannelSynchronously: channel,
            configuration: .init(isOutboundHalfClosureEnabled: false)
        )
    }
}

/// The outbound half of framing: writes each payload after its 4-byte big-endian length, and passes
/// ``FramePipeline/RaiseFrameLimit`` to the connection's frame decoder.
///
/// One handler for both, rather than NIOExtras' `LengthFieldPrepender` and a handler of its own for the limit: each
/// handler in a pipeline costs its object and a context for as long as the connection is open.
final class FrameEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limit: FrameSizeLimit
    private let maximumFrameSize: Int

    init(limit: FrameSizeLimit, maximumFrameSize: Int) {
        self.limit = limit
        self.maximumFrameSize = maximumFrameSize
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        guard let length = UInt32(exactly: payload.readableBytes) else {
            promise?.fail(CampusError(.frameTooLarge, "a frame of \(payload.readableBytes) bytes cannot be sent"))
            return
        }
        var prefix = context.channel.allocator.buffer(capacity: 4)
        prefix.writeInteger(length, endianness: .big)
        // Two writes, one `writev` when flushed: the payload is not copied.
        context.write(wrapOutboundOut(prefix), promise: nil)
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let raise = event as? FramePipeline.RaiseFrameLimit else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        limit.raise(to: min(raise.maximumFrameSize, maximumFrameSize))
        promise?.succeed()
    }
}
