import NIOCore
import NIOPosix

/// Opens framed connections to a CampusPKI server.
public enum FramedClient {
    /// How long a connection attempt may take.
    public static let connectTimeout = TimeAmount.seconds(10)

    /// Connects, runs `body` on the connection, and closes it.
    ///
    /// - Parameters:
    ///   - address: The server.
    ///   - maximumFrameSize: The largest payload accepted from the server.
    ///   - timeout: How long the server may stay silent.
    ///   - body: The client's side of the conversation.
    /// - Returns: What `body` returns.
    /// - Throws: ``ConnectError`` when the server cannot be reached, or what `body` throws.
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
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(connectTimeout)
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
            throw ConnectError(address: address, reason: NetworkFailure.describe(error), detail: "\(error)")
        }
        // The conversation runs where the connection's events arrive, as a server's connections do (see
        // EventLoopTaskExecutor): a frame received wakes no other thread, and a frame sent needs no hop.
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(channel.channel.eventLoop)) {
            try await channel.executeThenClose { inbound, outbound in
                try await body(FrameChannel(inbound: inbound, outbound: outbound, channel: channel.channel))
            }
        }
    }
}

/// A server could not be reached at all: nothing was sent.
public struct ConnectError: Error, Sendable, CustomStringConvertible {
    /// The server.
    public var address: ServerAddress
    /// Plain words: "connection refused", "timed out", …
    public var reason: String
    /// The library's own description, for the log.
    public var detail: String

    public var description: String { "cannot connect to \(address) (\(reason))" }
}
