import CampusPKI
import NIOCore
import NIOPosix

/// A TCP client without framing, for sending bytes no real client would send.
enum RawClient {
    /// Sends `bytes`, optionally half-closes, and returns everything the server sends until it closes.
    ///
    /// - Parameters:
    ///   - limit: Gives up after this long (the server should have closed by then).
    ///   - source: The local address to connect from (another loopback address, say); `nil`: the system's choice.
    static func exchange(
        _ address: ServerAddress,
        sending bytes: [UInt8],
        halfClose: Bool = false,
        limit: Duration = .seconds(30),
        from source: String? = nil
    ) async throws -> [UInt8] {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel =
            try await bootstrap
            .connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
                    if halfClose { outbound.finish() }
                    var received: [UInt8] = []
                    for try await chunk in inbound { received += chunk.readableBytesView }
                    return received
                }
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let received = first else { throw CampusError(.timeout, "the server did not close in time") }
            return received
        }
    }

    /// The messages in a byte stream of frames.
    static func messages(in bytes: [UInt8]) throws -> [WireMessage] {
        var buffer = ByteBuffer(bytes: bytes)
        var messages: [WireMessage] = []
        while let length = buffer.readInteger(as: UInt32.self) {
            guard let payload = buffer.readSlice(length: Int(length)) else {
                throw CampusError(.truncatedFrame, "the server's answer ends inside a frame")
            }
            messages.append(try WireMessage.decode(payload))
        }
        return messages
    }

    /// The code of the error frame the server answered with, if it did.
    static func errorCode(
        _ address: ServerAddress, sending bytes: [UInt8], halfClose: Bool = false, from source: String? = nil
    ) async throws -> CampusError.Code? {
        try await error(address, sending: bytes, halfClose: halfClose, from: source)?.code
    }

    /// The error frame the server answered with, if it did.
    static func error(
        _ address: ServerAddress, sending bytes: [UInt8], halfClose: Bool = false, from source: String? = nil
    ) async throws -> CampusError? {
        let messages = try messages(in: try await exchange(address, sending: bytes, halfClose: halfClose, from: source))
        guard messages.count == 1, case .error(let error) = messages[0] else { return nil }
        return error
    }

    /// One frame around a payload.
    static func frame(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }

    static func frame(_ message: WireMessage) -> [UInt8] {
        frame(Array(message.encoded().readableBytesView))
    }
}
