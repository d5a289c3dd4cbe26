import Foundation
import NIOCore

/// The PROXY protocol, version 2 (HAProxy's `send-proxy-v2`): the binary header a load balancer in TCP mode sends
/// first on each connection it opens to a server, naming the client it is passing on.
///
/// Behind a load balancer every connection comes from the balancer's address; with the header, a server's per-address
/// limits (CUHK's wrong-code throttle), its log and Blackboard's session records see each student's own address. A
/// server reads the header only from the addresses it is told to trust (`--proxy-protocol-from`): from anyone else
/// the header would let a student name any address it likes.
///
/// The header (haproxy.org, "The PROXY protocol", section 2.2): the 12-byte signature `0D 0A 0D 0A 00 0D 0A 51 55 49
/// 54 0A`; one byte of version (high nibble, 2) and command (low nibble: 0 LOCAL, 1 PROXY); one byte of address family
/// (high nibble: 0 unspecified, 1 IPv4, 2 IPv6, 3 Unix) and transport (low nibble: 1 stream); a 16-bit big-endian
/// length of what follows; then the source address, the destination address, the source port and the destination
/// port (12 bytes for IPv4, 36 for IPv6), and TLVs, which are ignored.
public enum ProxyProtocol {
    /// The 12 bytes every version 2 header starts with.
    public static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The most bytes after the fixed 16 that a header may have: the addresses and TLVs HAProxy sends are well
    /// below this; a longer header is refused rather than buffered.
    public static let maximumLength = 1024

    /// The addresses of the load balancers whose connections begin with a header (`--proxy-protocol-from`).
    public struct TrustedPeers: Sendable, Hashable {
        /// Each address as text, IPv4 in dotted form (also when it arrives as an IPv4-mapped IPv6 address).
        private let addresses: Set<String>

        /// No load balancer: every connection is its client's own.
        public static let none = TrustedPeers(addresses: [])

        private init(addresses: Set<String>) {
            self.addresses = addresses
        }

        /// Reads addresses as an operator types them: `10.0.0.5`, `2001:db8::5`, `[2001:db8::5]`.
        ///
        /// - Throws: ``InvalidAddress`` naming the text that is not an IP address.
        public init(parsing texts: [String]) throws(InvalidAddress) {
            var addresses: Set<String> = []
            for text in texts {
                var address = text.trimmingCharacters(in: .whitespaces)
                if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
                guard let parsed = try? SocketAddress(ipAddress: address, port: 0), let key = Self.key(parsed) else {
                    throw InvalidAddress(text: text)
                }
                addresses.insert(key)
            }
            self.addresses = addresses
        }

        /// An address that is not an IP address.
        public struct InvalidAddress: Error, CustomStringConvertible {
            public let text: String
            public var description: String {
                "\(ControlCharacters.escaped(text)) is not an IP address (such as 10.0.0.5 or 2001:db8::5)"
            }
        }

        /// Whether a connection from `peer` comes from a trusted load balancer.
        public func contains(_ peer: SocketAddress?) -> Bool {
            guard !addresses.isEmpty, let peer, let key = Self.key(peer) else { return false }
            return addresses.contains(key)
        }

        private static func key(_ address: SocketAddress) -> String? {
            guard let text = address.ipAddress else { return nil }
            // ::ffff:10.0.0.5, as a dual-stack socket sees an IPv4 peer.
            if case .v6 = address, text.lowercased().hasPrefix("::ffff:"), text.contains(".") {
                return String(text.dropFirst(7))
            }
            return text
        }
    }

    /// What a complete header says.
    public enum Header: Sendable, Equatable {
        /// A client's connection passed on: its address and port.
        case proxied(source: SocketAddress)
        /// The balancer's own connection (a health check), or a family without an address to use (Unix, unspecified):
        /// the connection's own address stands.
        case local
    }

    /// What the bytes received so far amount to.
    public enum Parsed: Sendable, Equatable {
        /// Not a whole header yet.
        case incomplete
        /// A header of `length` bytes in all.
        case header(Header, length: Int)
    }

    /// Reads a header from the start of `bytes`.
    ///
    /// - Throws: ``CampusError`` `malformed-message` with the reason: not a version 2 header (a version 1 text header
    ///   is named as such), an unknown command, a header longer than ``maximumLength``, or addresses that do not fit.
    public static func parse(_ bytes: ByteBuffer) throws(CampusError) -> Parsed {
        let available = bytes.readableBytes
        let start = bytes.readerIndex
        // The signature is checked on what has arrived, so that a connection that is not a proxy's fails at once.
        let prefix = bytes.getBytes(at: start, length: min(available, signature.count)) ?? []
        guard prefix.elementsEqual(signature.prefix(prefix.count)) else {
            if prefix.starts(with: Array("PROXY".utf8).prefix(prefix.count)) {
                throw CampusError(
                    .malformedMessage,
                    "the connection began with a PROXY protocol version 1 header (send-proxy); this server reads version 2 (send-proxy-v2)"
                )
            }
            throw CampusError(
                .malformedMessage,
                "the connection came from an address given with --proxy-protocol-from but did not begin with a PROXY protocol version 2 header (send-proxy-v2)"
            )
        }
        guard available >= 16,
            let versionAndCommand = bytes.getInteger(at: start + 12, as: UInt8.self),
            let familyAndTransport = bytes.getInteger(at: start + 13, as: UInt8.self),
            let length = bytes.getInteger(at: start + 14, endianness: .big, as: UInt16.self)
        else { return .incomplete }
        guard versionAndCommand >> 4 == 2 else {
            throw CampusError(
                .malformedMessage, "the PROXY protocol header has version \(versionAndCommand >> 4), not 2")
        }
        let command = versionAndCommand & 0x0F
        guard command <= 1 else {
            throw CampusError(.malformedMessage, "the PROXY protocol header has an unknown command \(command)")
        }
        guard Int(length) <= maximumLength else {
            throw CampusError(
                .malformedMessage,
                "the PROXY protocol header has \(length) bytes of addresses and TLVs, more than \(maximumLength)")
        }
        let total = 16 + Int(length)
        guard available >= total else { return .incomplete }
        guard command == 1, familyAndTransport & 0x0F == 1 else { return .header(.local, length: total) }
        let addresses = start + 16
        switch familyAndTransport >> 4 {
        case 1:
            guard length >= 12, let address = bytes.getBytes(at: addresses, length: 4),
                let port = bytes.getInteger(at: addresses + 8, endianness: .big, as: UInt16.self)
            else { throw tooShort("IPv4", length) }
            let text = address.map(String.init).joined(separator: ".")
            return .header(.proxied(source: try socketAddress(text, port)), length: total)
        case 2:
            guard length >= 36, let address = bytes.getBytes(at: addresses, length: 16),
                let port = bytes.getInteger(at: addresses + 32, endianness: .big, as: UInt16.self)
            else { throw tooShort("IPv6", length) }
            let text = stride(from: 0, to: 16, by: 2).map {
                String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16)
            }.joined(separator: ":")
            return .header(.proxied(source: try socketAddress(text, port)), length: total)
        default:
            return .header(.local, length: total)
        }
    }

    private static func tooShort(_ family: String, _ length: UInt16) -> CampusError {
        CampusError(
            .malformedMessage, "the PROXY protocol header's \(family) addresses do not fit in its \(length) bytes")
    }

    private static func socketAddress(_ text: String, _ port: UInt16) throws(CampusError) -> SocketAddress {
        do {
            return try SocketAddress(ipAddress: text, port: Int(port))
        } catch {
            throw CampusError(.malformedMessage, "the PROXY protocol header's source address cannot be read")
        }
    }
}

/// Reads the PROXY protocol header at the start of a connection from a trusted load balancer, completes `source`
/// with the client's address (or `nil` for the balancer's own connections), passes on what follows the header, and
/// leaves the pipeline.
///
/// Placed first in the pipeline, before framing, and only on connections from an address the server trusts
/// (``add(to:within:)``, which also gives up on a balancer that sends no whole header in time).
final class ProxyHeaderHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var received: ByteBuffer?
    /// Set when the header was refused: what follows is dropped.
    private var failed = false
    private let source: EventLoopPromise<SocketAddress?>

    init(source: EventLoopPromise<SocketAddress?>) {
        self.source = source
    }

    /// Adds a handler first in `channel`'s pipeline (on its event loop).
    ///
    /// - Returns: The client's address once the header is read, `nil` for the balancer's own connection; failed when
    ///   the header is refused, the connection closes, or no header is whole within `timeout` (the connection's idle
    ///   timeout counts frames only, and no frame is read before the header).
    static func add(to channel: any Channel, within timeout: TimeAmount) throws -> EventLoopFuture<SocketAddress?> {
        let source = channel.eventLoop.makePromise(of: SocketAddress?.self)
        try channel.pipeline.syncOperations.addHandler(ProxyHeaderHandler(source: source), position: .first)
        let seconds = Double(timeout.nanoseconds) / 1e9
        let late = channel.eventLoop.scheduleTask(in: timeout) {
            source.fail(
                CampusError(
                    .timeout, "no PROXY protocol header within \(seconds) s from a --proxy-protocol-from address"))
        }
        source.futureResult.whenComplete { _ in late.cancel() }
        return source.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        guard var bytes = received else {
            received = incoming
            examine(context)
            return
        }
        bytes.writeBuffer(&incoming)
        received = bytes
        examine(context)
    }

    private func examine(_ context: ChannelHandlerContext) {
        guard var bytes = received else { return }
        let parsed: ProxyProtocol.Parsed
        do {
            parsed = try ProxyProtocol.parse(bytes)
        } catch {
            fail(error)
            return
        }
        guard case .header(let header, let length) = parsed else { return }
        bytes.moveReaderIndex(forwardBy: length)
        received = nil
        switch header {
        case .proxied(let address): source.succeed(address)
        case .local: source.succeed(nil)
        }
        if bytes.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(bytes))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Drops what follows (the connection is answered and closed by its task).
    private func fail(_ error: CampusError) {
        failed = true
        received = nil
        source.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        source.fail(CampusError(.connectionClosed, "the connection closed before its PROXY protocol header"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        source.fail(error)
        context.fireErrorCaught(error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        source.fail(CampusError(.connectionClosed, "the connection closed before its PROXY protocol header"))
    }
}
