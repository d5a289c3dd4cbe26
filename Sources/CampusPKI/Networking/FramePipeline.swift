import NIOCore
import NIOExtras

/// The channel pipeline both ends use: frames in and out, with a maximum size and an idle timeout.
public enum FramePipeline {
    /// Adds the framing handlers and wraps the channel for async use. Call on the channel's event loop.
    ///
    /// - Parameters:
    ///   - channel: A newly accepted or connected channel.
    ///   - maximumFrameSize: The largest payload accepted from the peer.
    ///   - timeout: How long the connection may stay silent before it fails with `timeout`.
    ///   - phase: What the peer is expected to send first, for the timeout's reason.
    public static func configure(
        _ channel: any Channel,
        maximumFrameSize: Int,
        timeout: TimeAmount,
        waitingFor phase: String
    ) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(
            ByteToMessageHandler(
                FrameDecoder(maximumFrameSize: maximumFrameSize),
                maximumBufferSize: maximumFrameSize + 4
            )
        )
        try operations.addHandler(LengthFieldPrepender(lengthFieldBitLength: .fourBytes, lengthFieldEndianness: .big))
        try operations.addHandler(IdleTimeoutHandler(timeout: timeout, phase: phase))
        return try NIOAsyncChannel(
            wrappingChannelSynchronously: channel,
            configuration: .init(isOutboundHalfClosureEnabled: false)
        )
    }
}
