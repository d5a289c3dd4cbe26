import CampusPKI
import NIOCore
import NIOPosix

/// Asks an HTTP port one request and reads the status line of the answer: whether a server there accepts and
/// answers, for a readiness check.
public enum HTTPProbe {
    /// How long the connection and the answer may take together.
    public static let defaultTimeout = TimeAmount.seconds(3)

    /// What the port did.
    public enum Outcome: Sendable, Equatable {
        /// It answered with this status code.
        case answered(status: Int)
        /// It did not answer: the cause, as a phrase (`connection refused`, `no answer within 3 s`).
        case failed(String)
    }

    /// Sends `GET path` to `address` (its loopback counterpart when `address` is a wildcard such as `0.0.0.0`) and
    /// reads the status line.
    public static func ask(
        _ address: SocketAddress, path: String = "/", timeout: TimeAmount = defaultTimeout
    ) async -> Outcome {
        let target: SocketAddress
        do {
            target = try reachable(address)
        } catch {
            return .failed("\(error)")
        }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .connect(to: target) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            return .failed(NetworkFailure.describe(error))
        }
        // A silent server must not hold the check: the channel closes at the deadline, which ends the reading.
        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) { [channel = channel.channel] in
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let host = target.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost"
                try await outbound.write(
                    ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"))
                var received = ByteBuffer()
                for try await var part in inbound {
                    received.writeBuffer(&part)
                    if let status = statusCode(in: received) { return .answered(status: status) }
                    if received.readableBytes > 1024 { break }
                }
                if let status = statusCode(in: received) { return .answered(status: status) }
                return .failed(
                    received.readableBytes == 0
                        ? "no answer within \(HTTPRefusal.seconds(timeout)) s" : "an answer that is not HTTP")
            }
        } catch {
            return .failed(NetworkFailure.describe(error))
        }
    }

    /// The status code of a complete `HTTP/1.x NNN` status line at the start of `bytes`.
    static func statusCode(in bytes: ByteBuffer) -> Int? {
        let view = bytes.readableBytesView
        guard let end = view.firstIndex(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else {
            return nil
        }
        let words = String(decoding: view[..<end], as: UTF8.self).split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/1."), words[1].count == 3 else { return nil }
        return Int(words[1])
    }

    /// `address`, or the loopback address of its family when it is the wildcard a server listens on.
    static func reachable(_ address: SocketAddress) throws -> SocketAddress {
        switch address.ipAddress {
        case "0.0.0.0": try SocketAddress(ipAddress: "127.0.0.1", port: address.port ?? 0)
        case "::": try SocketAddress(ipAddress: "::1", port: address.port ?? 0)
        default: address
        }
    }
}
