import NIOCore
import NIOPosix

/// Opens framed connections to a CampusPKI server.
public enum FramedClient {
    /// Connects, runs `body` on the connection, and closes it.
    ///
    /// - Parameters:
    ///   - address: The server.
    ///   - maximumFrameSize: The largest payload accepted from the server.
    ///   - timeout: How long the server may stay silent.
    ///   - body: The client's side of the conversation.
    /// - Returns: What `body` returns.
    /// - Throws: ``CampusError`` with `connectionClosed` when the server cannot be reached, or what `body` throws.
    public static func withConnection<Result: Sendable>(
        to address: ServerAddress,
        maximumFrameSize: Int = 2 * 1024 * 1024,
        timeout: TimeAmount = .seconds(30),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (FrameChannel) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try FramePipeline.configure(
                            channel,
                            maximumFrameSize: maximumFrameSize,
                            timeout: timeout,
                            waitingFor: "the server's answer"
                        )
                    }
                }
        } catch {
            throw CampusError(.connectionClosed, "cannot connect to \(address): \(error)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(FrameChannel(inbound: inbound, outbound: outbound, channel: channel.channel))
        }
    }
}
