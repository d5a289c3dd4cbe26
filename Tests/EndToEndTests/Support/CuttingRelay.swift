import CampusPKI
import NIOCore
import NIOPosix
import Synchronization

/// A TCP relay on a free loopback port that forwards to a server and, on ``cut()``, closes every connection open
/// through it, as a load balancer does when the instance behind a connection dies.
final class CuttingRelay: Sendable {
    /// When the relay cuts the first connection by itself.
    enum FirstConnection: Sendable {
        /// Only ``cut()`` cuts.
        case relayed
        /// At once, before anything is forwarded.
        case cutAtOnce
        /// Right after forwarding the client's `count`th read to the server.
        case cutAfterClientReads(Int)
        /// Instead of forwarding what the server sends once the client's `count`th read has been forwarded: the
        /// server answered, the client never learns what.
        case cutAnswerAfterClientReads(Int)
        /// As ``cutAnswerAfterClientReads(_:)``, but the first half of what the server sent is forwarded before the
        /// cut, so the client's connection ends inside a frame.
        case truncateAnswerAfterClientReads(Int)
    }

    let target: ServerAddress
    let first: FirstConnection
    private let open = Mutex<[any Channel]>([])
    private let accepted = Mutex(0)

    init(target: ServerAddress, first: FirstConnection = .relayed) {
        self.target = target
        self.first = first
    }

    /// Connections accepted so far.
    var connections: Int { accepted.withLock { $0 } }

    /// Closes every connection open now, on both sides, and returns once they are closed.
    func cut() async {
        let channels = open.withLock { channels in
            defer { channels = [] }
            return channels
        }
        for channel in channels { try? await channel.close() }
    }

    /// Runs the relay for the duration of `body`, which receives the relay's address.
    func run<T: Sendable>(_ body: (ServerAddress) async throws -> T) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let address = ServerAddress(host: "127.0.0.1", port: listener.channel.localAddress!.port!)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await listener.executeThenClose { inbound in
                        for try await client in inbound {
                            let number = self.accepted.withLock {
                                $0 += 1
                                return $0
                            }
                            if number == 1, case .cutAtOnce = self.first {
                                try? await client.channel.close()
                                continue
                            }
                            var cutAfter: Int?
                            var cutAnswerAfter: Int?
                            var truncates = false
                            if number == 1 {
                                switch self.first {
                                case .cutAfterClientReads(let count): cutAfter = count
                                case .cutAnswerAfterClientReads(let count): cutAnswerAfter = count
                                case .truncateAnswerAfterClientReads(let count):
                                    (cutAnswerAfter, truncates) = (count, true)
                                case .relayed, .cutAtOnce: break
                                }
                            }
                            connections.addTask { [cutAfter, cutAnswerAfter, truncates] in
                                try? await self.relay(
                                    client, cutAfter: cutAfter, cutAnswerAfter: cutAnswerAfter, truncates: truncates)
                            }
                        }
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body(address)
        }
    }

    private func relay(
        _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, cutAfter: Int?, cutAnswerAfter: Int?, truncates: Bool
    ) async throws {
        let clientReads = ReadCount()
        let server = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        open.withLock { $0 += [client.channel, server.channel] }
        try await client.executeThenClose { clientInbound, clientOutbound in
            try await server.executeThenClose { serverInbound, serverOutbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in clientInbound {
                            try await serverOutbound.write(chunk)
                            let reads = clientReads.value.withLock {
                                $0 += 1
                                return $0
                            }
                            if reads == cutAfter { await self.cut() }
                        }
                        throw CancellationError()
                    }
                    group.addTask {
                        for try await chunk in serverInbound {
                            if let cutAnswerAfter, clientReads.value.withLock({ $0 }) >= cutAnswerAfter {
                                if truncates, chunk.readableBytes > 1 {
                                    try await clientOutbound.write(
                                        chunk.getSlice(at: chunk.readerIndex, length: chunk.readableBytes / 2)!)
                                }
                                await self.cut()
                                break
                            }
                            try await clientOutbound.write(chunk)
                        }
                        throw CancellationError()
                    }
                    // Either side's end ends both.
                    try await group.next()
                }
            }
        }
    }
}

/// The reads one direction of a relayed connection has forwarded, which the other direction looks at.
private final class ReadCount: Sendable {
    let value = Mutex(0)
}
