import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection to an HTTP port, driven byte by byte: for requests no browser sends (oversized, slow, idle)
/// and for watching when the server closes.
///
/// Every wait is bounded by a generous ``limit`` (the connection is closed then, and ``gaveUp`` says so), so a
/// server that never answers fails the test instead of hanging it.
struct RawHTTPConnection {
    /// An answer as received.
    struct Answer: Sendable {
        var status: Int
        var head: String
        var body: String

        /// A header's value (case-insensitive name).
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    /// How long any one test waits for the server before giving up.
    static let limit = TimeAmount.seconds(60)

    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let expired: Expiry

    final class Expiry: Sendable {
        let fired = Atomic(false)
    }

    /// Connects to `127.0.0.1:port`, from `source` when given (another loopback address, say).
    static func open(port: Int, from source: String? = nil) async throws -> RawHTTPConnection {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel =
            try await bootstrap
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let expiry = Expiry()
        channel.channel.eventLoop.scheduleTask(in: limit) { [channel = channel.channel] in
            expiry.fired.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        return RawHTTPConnection(channel: channel, expired: expiry)
    }

    /// Whether the connection was closed because the server kept the test waiting for ``limit``.
    var gaveUp: Bool { expired.fired.load(ordering: .relaxed) }

    /// Runs a conversation on the connection, then closes it.
    func talk<T: Sendable>(_ body: (inout Conversation) async throws -> T) async throws -> T {
        try await channel.executeThenClose { inbound, outbound in
            var conversation = Conversation(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&conversation)
        }
    }

    /// Sends and reads on an open connection.
    struct Conversation {
        var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        var pending = ByteBuffer()
        /// Whether the server has closed its side.
        var closed = false

        init(
            iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
            outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        ) {
            self.iterator = iterator
            self.outbound = outbound
        }

        mutating func send(_ text: String) async throws {
            try await outbound.write(ByteBuffer(string: text))
        }

        /// The next answer; `nil` when the server closes before a whole one. With `toHead`, the body is not read
        /// (a HEAD answer has none, whatever its Content-Length).
        mutating func answer(toHead: Bool = false) async throws -> Answer? {
            while true {
                let text = String(buffer: pending)
                if let end = text.range(of: "\r\n\r\n") {
                    let head = String(text[..<end.lowerBound])
                    let words = head.split(separator: " ", maxSplits: 2)
                    guard words.count >= 2, let status = Int(words[1]) else { return nil }
                    var answer = Answer(status: status, head: head, body: "")
                    let length = toHead ? 0 : Int(answer.header("Content-Length") ?? "0") ?? 0
                    let headBytes = text.utf8.distance(from: text.utf8.startIndex, to: end.upperBound)
                    if pending.readableBytes - headBytes >= length {
                        pending.moveReaderIndex(forwardBy: headBytes)
                        answer.body = pending.readString(length: length) ?? ""
                        return answer
                    }
                }
                guard try await readMore() else { return nil }
            }
        }

        /// Reads until the server closes; returns what arrived meanwhile.
        mutating func untilClosed() async throws -> String {
            while try await readMore() {}
            defer { pending.clear() }
            return String(buffer: pending)
        }

        private mutating func readMore() async throws -> Bool {
            guard !closed else { return false }
            do {
                guard var part = try await iterator.next() else {
                    closed = true
                    return false
                }
                pending.writeBuffer(&part)
                return true
            } catch {
                // A reset after the server closed is a close too.
                closed = true
                return false
            }
        }
    }
}
