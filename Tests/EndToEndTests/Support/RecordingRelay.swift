import CampusPKI
import NIOCore
import NIOPosix
import Synchronization

/// A TCP relay on a free loopback port that forwards to a server and records the bytes in each direction.
final class RecordingRelay: Sendable {
    let target: ServerAddress
    /// Sent to the server first on each connection, before the client's bytes (not recorded).
    let prefix: [UInt8]
    private let clientToServer = Mutex<[UInt8]>([])
    private let serverToClient = Mutex<[UInt8]>([])

    init(target: ServerAddress, prefix: [UInt8] = []) {
        self.target = target
        self.prefix = prefix
    }

    /// A load balancer with HAProxy's `send-proxy-v2`: each connection to the server begins with a PROXY protocol
    /// version 2 header naming `client` (an IPv4 address and port) as its source.
    static func loadBalancer(to target: ServerAddress, naming client: (address: [UInt8], port: UInt16))
        -> RecordingRelay
    {
        let header =
            ProxyProtocol.signature + [0x21, 0x11, 0x00, 0x0C] + client.address + [127, 0, 0, 1]
            + [
                UInt8(client.port >> 8), UInt8(client.port & 0xFF), UInt8(target.port >> 8 & 0xFF),
                UInt8(target.port & 0xFF),
            ]
        return RecordingRelay(target: target, prefix: header)
    }

    var sentByClient: [UInt8] { clientToServer.withLock { $0 } }
    var sentByServer: [UInt8] { serverToClient.withLock { $0 } }

    /// Runs the relay for the duration of `body`, which receives the relay's address.
    func run<T: Sendable>(_ body: (ServerAddress) async throws -> T) async throws -> T {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        let address = ServerAddress(host: "127.0.0.1", port: listener.channel.localAddress!.port!)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await listener.executeThenClose { inbound in
                        for try await client in inbound {
                            connections.addTask { try? await self.relay(client) }
                        }
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
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        try await client.executeThenClose { clientInbound, clientOutbound in
            try await server.executeThenClose { serverInbound, serverOutbound in
                if !prefix.isEmpty { try await serverOutbound.write(ByteBuffer(bytes: prefix)) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await chunk in clientInbound {
                            self.clientToServer.withLock { $0 += chunk.readableBytesView }
                            try await serverOutbound.write(chunk)
                        }
                        serverOutbound.finish()
                    }
                    group.addTask {
                        for try await chunk in serverInbound {
                            self.serverToClient.withLock { $0 += chunk.readableBytesView }
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

extension Collection where Element == UInt8 {
    /// Whether `needle` occurs as a contiguous run.
    func containsRun(_ needle: [UInt8]) -> Bool {
        let haystack = Array(self)
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<start + needle.count]) == needle { return true }
        }
        return false
    }
}
