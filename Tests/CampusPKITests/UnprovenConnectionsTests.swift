import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import CampusPKI

/// The count behind each server's limit per address, the limit in a server behind a load balancer, and how refused
/// connections are logged and closed.
@Suite struct UnprovenConnectionsTests {
    /// Records what is logged, for the test of the refusals' lines.
    final class Recorder: LogHandler, @unchecked Sendable {
        let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.withLock { $0.append("\(event.message) \(event.metadata ?? [:])") }
        }
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func source(_ text: String) throws -> SourceAddress {
        try #require(SourceAddress(try SocketAddress(ipAddress: text, port: 40_000)))
    }

    static func admits(_ counts: UnprovenConnections, _ address: SourceAddress, logger: Logger = quiet) -> Bool {
        do {
            try counts.admit(address, logger: logger)
            return true
        } catch {
            return false
        }
    }

    @Test func anAddressIsRefusedAtItsLimitAndServedAgainAfterARelease() throws {
        let counts = UnprovenConnections(limit: 2)
        let one = try Self.source("198.51.100.7")
        #expect(Self.admits(counts, one) && Self.admits(counts, one))
        do {
            try counts.admit(one, logger: Self.quiet)
            Issue.record("a third connection was admitted")
        } catch {
            #expect(error.error.code == .serverBusy)
            #expect(
                error.error.reason
                    == "the server is at its limit of 2 unfinished connections from 198.51.100.7; try again when one "
                    + "has finished")
        }
        #expect(counts.count(of: one) == 2, "a refusal is not counted")
        // Another address has places of its own.
        #expect(Self.admits(counts, try Self.source("198.51.100.8")))
        counts.release(one)
        #expect(counts.count(of: one) == 1)
        #expect(Self.admits(counts, one))
        #expect(!Self.admits(counts, one))
    }

    @Test func anIPv6NetworkIsOneClientAndAMappedIPv4AddressIsItsIPv4Address() throws {
        let counts = UnprovenConnections(limit: 1)
        #expect(Self.admits(counts, try Self.source("2001:db8:0:1::5")))
        // Another machine of the same /64: the same client.
        #expect(!Self.admits(counts, try Self.source("2001:db8:0:1:abcd::9")))
        #expect(Self.admits(counts, try Self.source("2001:db8:0:2::5")))
        #expect(Self.admits(counts, try Self.source("203.0.113.9")))
        #expect(!Self.admits(counts, try Self.source("::ffff:203.0.113.9")))
    }

    @Test func releasingEveryConnectionForgetsTheAddress() throws {
        let counts = UnprovenConnections(limit: 3)
        let one = try Self.source("198.51.100.7")
        for _ in 0..<3 { #expect(Self.admits(counts, one)) }
        for _ in 0..<3 { counts.release(one) }
        #expect(counts.count(of: one) == 0)
        // A release without an admission leaves nothing below zero.
        counts.release(one)
        for _ in 0..<3 { #expect(Self.admits(counts, one)) }
        #expect(!Self.admits(counts, one))
    }

    /// A client that reconnects as fast as it is refused makes one log line per burst, with the number refused.
    @Test func refusalsAreLoggedOncePerBurst() throws {
        let recorder = Recorder()
        let logger = Logger(label: "test", factory: { _ in recorder })
        let counts = UnprovenConnections(limit: 1)
        let one = try Self.source("198.51.100.7")
        #expect(Self.admits(counts, one, logger: logger))
        let started = ContinuousClock.now
        for _ in 0..<1000 { #expect(!Self.admits(counts, one, logger: logger)) }
        let lines = recorder.lines.withLock { $0 }
        #expect(lines.count >= 1 && lines.count <= Self.linesAllowed(since: started), "\(lines)")
        #expect(lines.first?.contains("198.51.100.7") == true)
    }

    /// The most lines refusals may make from `start` until now: the first of the burst, then one per interval.
    static func linesAllowed(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        let interval = Duration.nanoseconds(RefusalReports.interval.nanoseconds)
        return 1 + Int(elapsed / interval)
    }

    /// Connections refused at the server's own cap are logged once per burst as well.
    @Test func refusalsAtTheCapAreLoggedOncePerBurst() async throws {
        let recorder = Recorder()
        let configuration = FramedServer.Configuration(port: 0, timeout: .seconds(600), maximumConnections: 1)
        try await Self.withOneHeld(configuration, logger: Logger(label: "test", factory: { _ in recorder })) {
            _, port in
            let started = ContinuousClock.now
            for _ in 0..<20 {
                let error = try ProxyProtocolTests.error(
                    in: try await Self.exchange(port, ProxyProtocolTests.keepAliveFrame))
                #expect(error.code == .serverBusy)
                #expect(error.reason == "the server is at its limit of 1 connection; try again")
            }
            // One line for the 20 (more only when a busy machine took more than 10 s over them).
            let lines = recorder.lines.withLock { $0 }.filter { $0.contains("refusing connections") }
            #expect(lines.count >= 1 && lines.count <= Self.linesAllowed(since: started), "\(lines)")
        }
    }

    /// Runs a server whose handler waits for a frame, with one connection that it serves (and that sends nothing)
    /// for as long as `body` runs: the configuration's timeout must outlast the test on a busy machine.
    static func withOneHeld(
        _ configuration: FramedServer.Configuration, logger: Logger = quiet,
        _ body: (FramedServer, Int) async throws -> Void
    ) async throws {
        let seen = Mutex<Int>(0)
        let server = FramedServer(configuration: configuration, firstExpected: "a frame", logger: logger) { frames, _ in
            seen.withLock { $0 += 1 }
            _ = try await frames.receive()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port ?? 0
            let held = try await Self.connect(port)
            let started = ContinuousClock.now
            while seen.withLock({ $0 }) == 0 && ContinuousClock.now - started < .seconds(60) {
                try await Task.sleep(for: .milliseconds(10))
            }
            try #require(seen.withLock { $0 } == 1, "the held connection was not served")
            try await body(server, port)
            #expect(seen.withLock { $0 } == 1)
            try await held.close()
        }
    }

    /// Behind a trusted load balancer each client is the address its PROXY header names.
    @Test func behindATrustedBalancerEachHeadersAddressHasItsOwnPlaces() async throws {
        let seen = Mutex<[String]>([])
        var configuration = FramedServer.Configuration(port: 0, timeout: .seconds(600))
        configuration.proxyProtocolPeers = try .init(parsing: ["127.0.0.1"])
        configuration.maximumUnprovenPerAddress = 1
        let server = FramedServer(configuration: configuration, firstExpected: "a frame", logger: Self.quiet) {
            frames, _ in
            seen.withLock { $0.append(frames.remoteAddress) }
            _ = try await frames.receive()
            throw CampusError(.unexpectedMessage, "served")
        }
        func header(_ last: UInt8) -> [UInt8] {
            ProxyProtocolTests.header(family: 0x11, block: [203, 0, 113, last, 127, 0, 0, 1, 0x10, 0x92, 0x24, 0x77])
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let port = try await server.listeningAddress().port ?? 0
            // The first client of 203.0.113.7 stays in its first exchange.
            let held = try await Self.connect(port)
            try await held.writeAndFlush(ByteBuffer(bytes: header(7)))
            let started = ContinuousClock.now
            while seen.withLock({ $0.isEmpty }) && ContinuousClock.now - started < .seconds(60) {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(seen.withLock { $0 } == ["[IPv4]203.0.113.7:4242"])
            // Its second connection through the same balancer is refused; another client's is served.
            let refused = try await Self.exchange(port, header(7) + ProxyProtocolTests.keepAliveFrame)
            let error = try ProxyProtocolTests.error(in: refused)
            #expect(error.code == .serverBusy)
            #expect(error.reason.contains("from 203.0.113.7;"), "\(error.reason)")
            let served = try await Self.exchange(port, header(8) + ProxyProtocolTests.keepAliveFrame)
            #expect(try ProxyProtocolTests.error(in: served).code == .unexpectedMessage)
            try await held.close()
        }
    }

    /// A client that opens connections faster than refusals wait holds no more than ``FramedServer/maximumLingeringRefusals``
    /// of them open: the others are closed as soon as their error frames are written.
    @Test func refusedConnectionsThatWaitForTheirPeersAreFew() async throws {
        var configuration = FramedServer.Configuration(port: 0, timeout: .seconds(600))
        configuration.maximumUnprovenPerAddress = 1
        // Long enough that every refused connection would still be waiting when the test looks.
        configuration.refusalLinger = .seconds(120)
        try await Self.withOneHeld(configuration) { server, port in
            // Refused connections that stay open on the client's side, each told it was refused.
            let count = FramedServer.maximumLingeringRefusals + 100
            var refused: [any Channel] = []
            var told: [EventLoopFuture<Void>] = []
            for _ in 0..<count {
                let answered = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
                refused.append(
                    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        // The server's end of stream leaves the client's side open, as a client that never reads.
                        .channelOption(.allowRemoteHalfClosure, value: true)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(FirstBytes(answered))
                            }
                        }
                        .connect(host: "127.0.0.1", port: port).get())
                told.append(answered.futureResult)
            }
            for answer in told { try await answer.get() }
            let waited = ContinuousClock.now
            while server.openConnections > 1 + FramedServer.maximumLingeringRefusals
                && ContinuousClock.now - waited < .seconds(60)
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(server.openConnections <= 1 + FramedServer.maximumLingeringRefusals)
            for channel in refused { try? await channel.close() }
        }
    }

    /// Succeeds its promise at the first bytes received, or when the connection closes first.
    final class FirstBytes: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<Void>

        init(_ promise: EventLoopPromise<Void>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            promise.succeed()
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.succeed()
            context.fireChannelInactive()
        }
    }

    static func connect(_ port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port)
            .get()
    }

    /// Sends `bytes` on a new connection and returns what the server sent until it closed.
    static func exchange(_ port: Int, _ bytes: [UInt8]) async throws -> [UInt8] {
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let guardTimer = client.channel.eventLoop.scheduleTask(in: .seconds(60)) { client.channel.close(promise: nil) }
        defer { guardTimer.cancel() }
        return try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: bytes))
            var answer: [UInt8] = []
            for try await chunk in inbound { answer += chunk.readableBytesView }
            return answer
        }
    }
}
