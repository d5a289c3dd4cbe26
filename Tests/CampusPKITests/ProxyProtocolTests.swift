import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import CampusPKI

/// The PROXY protocol v2 header a trusted load balancer sends first: read exactly, refused clearly, and trusted only
/// from the addresses given.
@Suite struct ProxyProtocolTests {
    /// A version 2 header: `command` 1 (PROXY) or 0 (LOCAL), `family` 0x11 (TCP over IPv4), 0x21 (TCP over IPv6) or
    /// another, then the address block (and any TLVs).
    static func header(command: UInt8 = 1, family: UInt8, block: [UInt8]) -> [UInt8] {
        ProxyProtocol.signature + [0x20 | command, family, UInt8(block.count >> 8), UInt8(block.count & 0xFF)] + block
    }

    /// 203.0.113.7:4242 → 192.0.2.1:9335, as HAProxy sends it.
    static let ipv4Header = header(family: 0x11, block: [203, 0, 113, 7, 192, 0, 2, 1, 0x10, 0x92, 0x24, 0x77])

    static func parse(_ bytes: [UInt8]) throws(CampusError) -> ProxyProtocol.Parsed {
        try ProxyProtocol.parse(ByteBuffer(bytes: bytes))
    }

    @Test func anIPv4HeaderNamesTheClient() throws {
        let parsed = try Self.parse(Self.ipv4Header + [0, 0, 0, 1, 0x18])
        #expect(
            parsed == .header(.proxied(source: try SocketAddress(ipAddress: "203.0.113.7", port: 4242)), length: 28))
    }

    @Test func anIPv6HeaderNamesTheClientAndTLVsAreSkipped() throws {
        let source: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x05]
        let destination = [UInt8](repeating: 0, count: 15) + [1]
        let tlv: [UInt8] = [0x05, 0x00, 0x03, 0x61, 0x62, 0x63]  // PP2_TYPE_UNIQUE_ID "abc"
        let bytes = Self.header(family: 0x21, block: source + destination + [0x01, 0xBB, 0x0C, 0x45] + tlv)
        let parsed = try Self.parse(bytes)
        #expect(
            parsed == .header(.proxied(source: try SocketAddress(ipAddress: "2001:db8::5", port: 443)), length: 58))
    }

    /// HAProxy's own connections (health checks) and families without an IP address keep the connection's address.
    @Test func localAndAddresslessHeadersKeepTheConnectionsAddress() throws {
        #expect(try Self.parse(Self.header(command: 0, family: 0x00, block: [])) == .header(.local, length: 16))
        #expect(
            try Self.parse(Self.header(command: 0, family: 0x11, block: Array(Self.ipv4Header[16...])))
                == .header(.local, length: 28))
        #expect(
            try Self.parse(Self.header(family: 0x31, block: [UInt8](repeating: 0x2F, count: 216)))
                == .header(.local, length: 232))
    }

    /// Every proper prefix of a header waits for more; the header is read once it is whole.
    @Test func aHeaderSplitAnywhereWaitsForTheRest() throws {
        for count in 0..<Self.ipv4Header.count {
            #expect(try Self.parse(Array(Self.ipv4Header.prefix(count))) == .incomplete, "\(count) bytes")
        }
    }

    @Test func whatIsNotAVersion2HeaderIsRefusedAtItsFirstWrongByte() {
        // A framed request from a peer that is not a load balancer: its length prefix is not the signature.
        let frame: [UInt8] = [0, 0, 0, 1, 0x18]
        #expect(throws: CampusError.self) { try Self.parse(Array(frame.prefix(1))) }
        let notProxy = #expect(throws: CampusError.self) { try Self.parse(frame) }
        #expect(notProxy?.code == .malformedMessage)
        #expect(notProxy?.reason.contains("send-proxy-v2") == true, "\(String(describing: notProxy))")
        // HAProxy's send-proxy (version 1, text).
        let textual = #expect(throws: CampusError.self) {
            try Self.parse(Array("PROXY TCP4 203.0.113.7 192.0.2.1 4242 9335\r\n".utf8))
        }
        #expect(textual?.reason.contains("version 1") == true, "\(String(describing: textual))")
        var wrongVersion = Self.ipv4Header
        wrongVersion[12] = 0x11
        #expect(throws: CampusError.self) { try Self.parse(wrongVersion) }
        var unknownCommand = Self.ipv4Header
        unknownCommand[12] = 0x22
        #expect(throws: CampusError.self) { try Self.parse(unknownCommand) }
    }

    @Test func aHeaderLongerThanTheMaximumOrWithAddressesThatDoNotFitIsRefused() {
        let long = ProxyProtocol.signature + [0x21, 0x11, 0x04, 0x01]
        #expect(throws: CampusError.self) { try Self.parse(long) }
        #expect(throws: CampusError.self) { try Self.parse(Self.header(family: 0x11, block: [203, 0, 113, 7])) }
        #expect(throws: CampusError.self) {
            try Self.parse(Self.header(family: 0x21, block: [UInt8](repeating: 1, count: 20)))
        }
    }

    @Test func trustedPeersMatchExactAddressesAndIPv4MappedOnes() throws {
        let peers = try ProxyProtocol.TrustedPeers(parsing: ["10.0.0.5", "[2001:db8::5]"])
        #expect(peers.contains(try SocketAddress(ipAddress: "10.0.0.5", port: 51000)))
        #expect(peers.contains(try SocketAddress(ipAddress: "::ffff:10.0.0.5", port: 51000)))
        #expect(peers.contains(try SocketAddress(ipAddress: "2001:db8:0::5", port: 1)))
        #expect(!peers.contains(try SocketAddress(ipAddress: "10.0.0.6", port: 51000)))
        #expect(!peers.contains(try SocketAddress(ipAddress: "2001:db8::6", port: 1)))
        #expect(!peers.contains(nil))
        #expect(!ProxyProtocol.TrustedPeers.none.contains(try SocketAddress(ipAddress: "10.0.0.5", port: 1)))
        #expect(throws: ProxyProtocol.TrustedPeers.InvalidAddress.self) {
            try ProxyProtocol.TrustedPeers(parsing: ["lb.example.edu"])
        }
    }

    // MARK: - A server behind a load balancer

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs a server that trusts `peers` and records the address each connection's handler sees; sends `bytes` on one
    /// connection in `chunks` writes and returns what the server sent back until it closed.
    static func exchange(
        trusting peers: [String], send bytes: [UInt8], chunks: Int = 1, timeout: TimeAmount = .seconds(30)
    ) async throws -> (
        seen: [String], answer: [UInt8]
    ) {
        let seen = Mutex<[String]>([])
        let server = FramedServer(
            configuration: .init(port: 0, timeout: timeout, proxyProtocolPeers: try .init(parsing: peers)),
            firstExpected: "a frame", logger: quiet
        ) { frames, _ in
            seen.withLock { $0.append(frames.remoteAddress) }
            _ = try await frames.receive()
            throw CampusError(.unexpectedMessage, "served")
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port ?? 0
            let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            // A server that never answers ends the exchange (and fails the test) instead of hanging it.
            let guardTimer = client.channel.eventLoop.scheduleTask(in: .seconds(60)) {
                client.channel.close(promise: nil)
            }
            defer { guardTimer.cancel() }
            let answer = try await client.executeThenClose { inbound, outbound in
                let size = max(1, (bytes.count + chunks - 1) / chunks)
                for start in stride(from: 0, to: bytes.count, by: size) {
                    try await outbound.write(ByteBuffer(bytes: bytes[start..<min(bytes.count, start + size)]))
                }
                var answer: [UInt8] = []
                for try await chunk in inbound { answer += chunk.readableBytesView }
                return answer
            }
            return (seen.withLock { $0 }, answer)
        }
    }

    /// The error frame a server sent, decoded.
    static func error(in answer: [UInt8]) throws -> CampusError {
        try #require(answer.count > 4)
        let message = try WireMessage.decode(ByteBuffer(bytes: answer[4...]))
        guard case .error(let error) = message else {
            Issue.record("not an error frame: \(message)")
            throw CampusError(.internalError, "not an error frame")
        }
        return error
    }

    static let keepAliveFrame: [UInt8] = {
        let payload = Array(WireMessage.keepAlive.encoded().readableBytesView)
        return withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }()

    /// From a trusted balancer the connection is the client's: the handler sees the header's address, whole or
    /// one byte at a time, and the frames after the header arrive as they were sent.
    @Test(arguments: [1, 33]) func aTrustedBalancersConnectionIsTheClients(chunks: Int) async throws {
        let (seen, answer) = try await Self.exchange(
            trusting: ["127.0.0.1"], send: Self.ipv4Header + Self.keepAliveFrame, chunks: chunks)
        #expect(seen == ["[IPv4]203.0.113.7:4242"])
        #expect(try Self.error(in: answer).code == .unexpectedMessage)
    }

    /// A trusted balancer that sends no header (HAProxy without send-proxy-v2) gets a clear refusal, and nothing is
    /// served.
    @Test func aTrustedBalancerWithoutTheHeaderIsRefused() async throws {
        let (seen, answer) = try await Self.exchange(trusting: ["127.0.0.1"], send: Self.keepAliveFrame)
        #expect(seen.isEmpty)
        let error = try Self.error(in: answer)
        #expect(error.code == .malformedMessage)
        #expect(error.reason.contains("--proxy-protocol-from"), "\(error)")
    }

    /// A trusted balancer that stays silent is timed out like any connection, though no frame was read.
    @Test func aSilentTrustedBalancerTimesOut() async throws {
        let (seen, answer) = try await Self.exchange(trusting: ["127.0.0.1"], send: [], timeout: .milliseconds(300))
        #expect(seen.isEmpty)
        let error = try Self.error(in: answer)
        #expect(error.code == .timeout)
        #expect(error.reason.contains("PROXY protocol header"), "\(error)")
    }

    /// From any other address a header is not read: a student cannot name an address of its choice.
    @Test func aHeaderFromAnUntrustedAddressIsNotBelieved() async throws {
        let (seen, answer) = try await Self.exchange(
            trusting: ["10.9.9.9"], send: Self.ipv4Header + Self.keepAliveFrame)
        #expect(!seen.contains { $0.contains("203.0.113.7") })
        #expect(try Self.error(in: answer).code == .frameTooLarge)
    }
}
