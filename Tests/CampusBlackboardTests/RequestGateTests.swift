import AsyncHTTPClient
import CampusTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import CampusBlackboard

/// Requests to CUHK wait for a free connection of the pool in ``RequestGate``, until their own deadline, instead of
/// failing in the pool's queue after its connect timeout.
@Suite struct RequestGateTests {
    @Test func permitsPassInTurnAndAWaitEndsAtItsDeadline() async throws {
        let gate = RequestGate(permits: 2)
        // Far enough that no machine reaches it during this test: a wait that ends at it would not be counted.
        let far = NIODeadline.now() + .hours(1)
        #expect(await gate.acquire(before: far))
        #expect(await gate.acquire(before: far))
        #expect(gate.counts == (2, 0))
        // None free: a short deadline passes.
        #expect(!(await gate.acquire(before: .now() + .milliseconds(50))))
        #expect(gate.counts == (2, 0))
        // A waiter gets the permit that is freed.
        let waiter = Task { await gate.acquire(before: far) }
        try await waitUntil("the waiter to wait") { gate.counts.waiting == 1 }
        gate.release()
        #expect(await waiter.value)
        #expect(gate.counts == (2, 0))
        // A cancelled waiter gives up.
        let cancelled = Task { await gate.acquire(before: far) }
        try await waitUntil("the waiter to wait") { gate.counts.waiting == 1 }
        cancelled.cancel()
        #expect(!(await cancelled.value))
        // `run` with no permit free before its deadline throws; with one, it runs and frees it after.
        await #expect(throws: RequestGate.Busy.self) {
            try await gate.run(before: .now() + .milliseconds(20)) {}
        }
        gate.release()
        gate.release()
        #expect(gate.counts == (0, 0))
        let running = try await gate.run(before: far) { gate.counts.running }
        #expect(running == 1)
        #expect(gate.counts == (0, 0))
    }

    /// A pool of one connection with a 1 s connect timeout, and a server that takes 1.5 s per answer: three requests
    /// at once through the gate are all answered (one after the other); without it the pool's queue fails those that
    /// wait longer than 1 s. (With 200 and 300 ms, a request through the gate failed once in a run of the whole suite
    /// under `scripts/test-under-load.sh`.)
    @Test func requestsWaitForTheGateNotInThePoolsQueue() async throws {
        let server = try await SlowResponder.start(delay: .milliseconds(1500))
        defer { server.close(promise: nil) }
        let url = "http://127.0.0.1:\(server.localAddress?.port ?? 0)/"
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(1))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 1
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)

        func three(gate: RequestGate?) async -> [Bool] {
            await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        do {
                            if let gate {
                                let response = try await RevocationHTTPClient.fetch(
                                    HTTPClientRequest(url: url), timeout: .seconds(30), maximumBody: 1024,
                                    on: client, gate: gate)
                                return response.status == .ok && response.body == SlowResponder.answer
                            }
                            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                            return response.status == .ok
                        } catch {
                            return false
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(await three(gate: RequestGate(permits: 1)) == [true, true, true])
        #expect(await three(gate: nil).contains(false), "the pool's queue did not time out: the test shows nothing")
        try await client.shutdown()
    }

    /// Answers each request after `delay`.
    enum SlowResponder {
        static let answer: [UInt8] = Array("later".utf8)

        static func start(delay: TimeAmount) async throws -> any Channel {
            try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(Handler(delay: delay))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
        }

        final class Handler: ChannelInboundHandler, Sendable {
            typealias InboundIn = HTTPServerRequestPart
            typealias OutboundOut = HTTPServerResponsePart
            let delay: TimeAmount

            init(delay: TimeAmount) {
                self.delay = delay
            }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                guard case .end = unwrapInboundIn(data) else { return }
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: delay) {
                    let context = bound.value
                    var head = HTTPResponseHead(version: .http1_1, status: .ok)
                    head.headers.add(name: "Content-Length", value: "\(SlowResponder.answer.count)")
                    context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
                    context.write(
                        Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: SlowResponder.answer)))),
                        promise: nil)
                    context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}
