import CampusPKI
import NIOCore
import NIOPosix
import Synchronization

/// An on-path attacker: a TCP relay on a free loopback port that forwards to a server, cuts the client's bytes into
/// frames and may rewrite each one before passing it on; the server's bytes pass unchanged. Both directions are
/// recorded as they crossed the relay.
final class RewritingRelay: Sendable {
    let target: ServerAddress
    private let rewrite: @Sendable ([UInt8]) -> [UInt8]
    private let fromClient = Mutex<[UInt8]>([])
    private let fromServer = Mutex<[UInt8]>([])

    /// - Parameter rewrite: Gets each payload the client sends and returns the payload to forward.
    init(target: ServerAddress, rewrite: @escaping @Sendable ([UInt8]) -> [UInt8]) {
        self.target = target
        self.rewrite = rewrite
    }

    /// Everything that crossed the relay, both ways.
    var seen: [UInt8] { fromClient.withLock { $0 } + fromServer.withLock { $0 } }

    func run<T: Sendable>(_ body: (ServerAddress) async throws -> T) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let address = ServerAddress(host: "127.0.0.1", port: listener.channel.localAddress!.port!)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await listener.executeThenClose { inbound in
                        for try await client in inbound { connections.addTask { try? await self.relay(client) } }
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body(address)
        }
    }

    private func relay(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws {
        let server = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        try await client.executeThenClose { clientInbound, clientOutbound in
            try await server.executeThenClose { serverInbound, serverOutbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var pending: [UInt8] = []
                        for try await chunk in clientInbound {
                            pending += chunk.readableBytesView
                            while pending.count >= 4 {
                                let length = pending[0..<4].reduce(0) { $0 << 8 | Int($1) }
                                guard pending.count >= 4 + length else { break }
                                let payload = self.rewrite(Array(pending[4..<4 + length]))
                                pending.removeFirst(4 + length)
                                let frame = withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
                                self.fromClient.withLock { $0 += frame }
                                try await serverOutbound.write(ByteBuffer(bytes: frame))
                            }
                        }
                        serverOutbound.finish()
                    }
                    group.addTask {
                        for try await chunk in serverInbound {
                            self.fromServer.withLock { $0 += chunk.readableBytesView }
                            try await clientOutbound.write(chunk)
                        }
                        clientOutbound.finish()
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}
