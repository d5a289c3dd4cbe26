import CampusPKI
import NIOCore
import NIOPosix

/// A load balancer with HAProxy's `send-proxy-v2`: a TCP relay on a free loopback port that begins each connection
/// to the server with a PROXY protocol version 2 header naming `client` as the source, then passes bytes both ways.
final class ProxyHeaderRelay: Sendable {
    let target: ServerAddress
    /// The IPv4 address and port the header names.
    let client: (address: [UInt8], port: UInt16)

    init(target: ServerAddress, client: (address: [UInt8], port: UInt16)) {
        self.target = target
        self.client = client
    }

    /// The header: PROXY command, TCP over IPv4, the client, then the server as the destination.
    var header: [UInt8] {
        ProxyProtocol.signature + [0x21, 0x11, 0x00, 0x0C] + client.address + [127, 0, 0, 1]
            + [UInt8(client.port >> 8), UInt8(client.port & 0xFF)]
            + [UInt8(target.port >> 8 & 0xFF), UInt8(target.port & 0xFF)]
    }

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
        let header = header
        try await client.executeThenClose { clientInbound, clientOutbound in
            try await server.executeThenClose { serverInbound, serverOutbound in
                try await serverOutbound.write(ByteBuffer(bytes: header))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in clientInbound { try await serverOutbound.write(chunk) }
                        serverOutbound.finish()
                    }
                    group.addTask {
                        for try await chunk in serverInbound { try await clientOutbound.write(chunk) }
                        clientOutbound.finish()
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}
