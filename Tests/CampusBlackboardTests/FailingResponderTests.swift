import AsyncHTTPClient
import CampusAdmin
import CampusPKI
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
import X509

@testable import CampusBlackboard

/// An OCSP responder that is down costs one wait, not one per handshake, and a closed port fails at once.
@Suite struct FailingResponderTests {
    @Test func aFailureIsRememberedForAWhile() {
        let failures = FailingResponders(memory: 10)
        let start = Date()
        #expect(!failures.hasFailed("http://a/", at: start))
        failures.recordFailure(of: "http://a/", at: start)
        #expect(failures.hasFailed("http://a/", at: start.addingTimeInterval(9.9)))
        #expect(!failures.hasFailed("http://b/", at: start))
        #expect(!failures.hasFailed("http://a/", at: start.addingTimeInterval(10)))
        failures.recordFailure(of: "http://a/", at: start)
        failures.recordSuccess(of: "http://a/")
        #expect(!failures.hasFailed("http://a/", at: start))
        for index in 0..<(FailingResponders.capacity + 5) {
            failures.recordFailure(of: "http://\(index)/", at: start.addingTimeInterval(Double(index) / 100))
        }
        #expect(!failures.hasFailed("http://0/", at: start.addingTimeInterval(1)))
        #expect(failures.hasFailed("http://\(FailingResponders.capacity + 4)/", at: start.addingTimeInterval(1)))
    }

    /// A busy responder during a deadline rush answers most requests and lets a few time out: those fail alone. A
    /// responder that cannot be reached, or that answered nothing lately, is remembered; a failure that says nothing
    /// of the responder (a connection this process could not get from its own pool in time) never is.
    @Test func aBusyResponderIsNotTakenForADeadOne() {
        let failures = FailingResponders(memory: 10)
        let start = Date()
        failures.recordSuccess(of: "http://busy/", at: start)
        failures.recordFailure(of: "http://busy/", at: start.addingTimeInterval(1), .noAnswer)
        #expect(!failures.hasFailed("http://busy/", at: start.addingTimeInterval(2)))
        failures.recordFailure(of: "http://busy/", at: start.addingTimeInterval(11), .noAnswer)
        #expect(failures.hasFailed("http://busy/", at: start.addingTimeInterval(12)))

        failures.recordSuccess(of: "http://down/", at: start)
        failures.recordFailure(of: "http://down/", at: start.addingTimeInterval(1), .unreachable)
        #expect(failures.hasFailed("http://down/", at: start.addingTimeInterval(2)))

        failures.recordFailure(of: "http://queued/", at: start, .other)
        #expect(!failures.hasFailed("http://queued/", at: start))
        #expect(OCSPHTTPRequester.kind(of: HTTPClientError.getConnectionFromPoolTimeout) == .other)
        #expect(OCSPHTTPRequester.kind(of: HTTPClientError.deadlineExceeded) == .noAnswer)
        #expect(OCSPHTTPRequester.kind(of: IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .unreachable)
    }

    static func requester(timeout: TimeAmount, failures: FailingResponders = FailingResponders()) throws
        -> (OCSPHTTPRequester, [UInt8])
    {
        let root = try CertificateFactory.root()
        let id = try OCSPCertificateID(certificate: try CertificateFactory.student(), issuer: root)
        let requester = OCSPHTTPRequester(
            client: RevocationHTTPClient.shared, cache: OCSPResponseCache(), failures: failures, issuer: root,
            timeout: timeout)
        return (requester, OCSPRequestMessage(certificateIDs: [id]).derEncoded())
    }

    /// A responder that accepts connections and never answers: the first request waits for its deadline, the next
    /// one is answered at once without a connection.
    @Test func aSilentResponderIsAskedOnceWhileItsFailureIsRemembered() async throws {
        let accepted = Mutex(0)
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.withLock { $0 += 1 }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let url = "http://127.0.0.1:\(silent.localAddress?.port ?? 0)/"
        let failures = FailingResponders()
        let (requester, request) = try Self.requester(timeout: .seconds(1), failures: failures)

        _ = await requester.query(request: request, uri: url)
        #expect(failures.hasFailed(url, at: Date()))
        #expect(accepted.withLock { $0 } == 1)
        _ = await requester.query(request: request, uri: url)
        _ = await requester.query(request: request, uri: url)
        #expect(accepted.withLock { $0 } == 1, "the responder was asked again while its failure was remembered")
    }

    /// `HTTPClient.shared` tries a refused connection again and again until the request's deadline (5 s for
    /// every handshake while CUHK's responder port is closed); the revocation client takes the refusal as the
    /// answer, and gives up a connection attempt that gets no answer at all after 2 s.
    @Test func theRevocationClientDoesNotRetryAConnection() {
        let configuration = RevocationHTTPClient.configuration
        #expect(configuration.connectionPool.retryConnectionEstablishment == false)
        #expect(configuration.timeout.connect == RevocationHTTPClient.connectTimeout)
        #expect(RevocationHTTPClient.connectTimeout < HandshakeDriver.defaultOCSPTimeout)
        // The client ends an idle kept connection before CUHK's HTTP port would.
        #expect(configuration.connectionPool.idleTimeout == RevocationHTTPClient.idleTimeout)
        #expect(RevocationHTTPClient.idleTimeout < .seconds(Int64(HTTPLimits.defaultIdleTimeoutSeconds)))
        #expect(HTTPClient.Configuration().connectionPool.retryConnectionEstablishment == true)
    }

    /// A responder that closes a kept connection as a request arrives on it (its idle timeout running out at that
    /// moment): the request is asked once more on a new connection and answered; one that closes every connection
    /// under its request is asked twice, not more.
    @Test func aKeptConnectionClosedUnderARequestIsAskedOnceMore() async throws {
        let closing = try await ClosingResponder.start(answering: 1)
        defer { closing.channel.close(promise: nil) }
        let (requester, request) = try Self.requester(timeout: .seconds(30))
        try await closing.askUntilClosedUnderARequest {
            let result = await requester.ask(request: request, uri: closing.url, key: nil, id: nil)
            guard case .success(let bytes) = result else { throw CampusError(.internalError, "\(result)") }
            return bytes
        }

        let silent = try await ClosingResponder.start(answering: 0)
        defer { silent.channel.close(promise: nil) }
        let result = await requester.ask(request: request, uri: silent.url, key: nil, id: nil)
        guard case .failure(let failure) = result else {
            Issue.record("every connection was closed, yet there was an answer")
            return
        }
        #expect(silent.counts.withLock { $0 } == .init(connections: 2, requests: 2, answered: 0), "\(failure)")
        #expect(failure.kind == .other)
    }

    /// The timestamp client goes through the same path: a kept connection closed under its request is asked once
    /// more.
    @Test func theTimestampClientAsksOnceMoreToo() async throws {
        let closing = try await ClosingResponder.start(answering: 1)
        defer { closing.channel.close(promise: nil) }
        let client = TimestampAuthorityClient(
            configuredURL: closing.url,
            credentials: ServiceCredentialStore(certificatePath: "/nonexistent.cer", keyPath: "/nonexistent.key"),
            roots: TrustedRootStore(path: "/nonexistent-root.cer"), timeout: .seconds(30))
        try await closing.askUntilClosedUnderARequest { try await client.reply(to: [1, 2, 3]) }
    }

    /// An HTTP server that answers the first request of each connection, and closes a kept connection under the next
    /// request that arrives on it once (the first time it happens; it answers such requests after that); with
    /// `answering` 0, it closes every connection under its first request.
    struct ClosingResponder {
        struct Counts: Equatable {
            var connections = 0
            var requests = 0
            var answered = 0
            /// Whether a kept connection was closed under a request already.
            var closedKept = false

            init(connections: Int = 0, requests: Int = 0, answered: Int = 0) {
                (self.connections, self.requests, self.answered) = (connections, requests, answered)
            }

            static func == (lhs: Counts, rhs: Counts) -> Bool {
                (lhs.connections, lhs.requests, lhs.answered) == (rhs.connections, rhs.requests, rhs.answered)
            }
        }

        final class SharedCounts: Sendable {
            private let counts = Mutex(Counts())
            func withLock<T>(_ body: (inout Counts) -> T) -> T { counts.withLock { body(&$0) } }
        }

        static let answer: [UInt8] = Array("not really OCSP".utf8)
        let channel: any Channel
        let counts: SharedCounts
        var url: String { "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/" }

        /// Asks with `ask` in rounds, a moment apart, until a round met a kept connection closed under its request
        /// (at most 10 rounds), and checks that every round was answered, the one that met the closing too.
        ///
        /// A round right after another may find the previous connection not yet back in the client's pool and open
        /// a new one instead (on a busy machine, the response can reach the caller before the pool takes the
        /// connection back); that round meets no closing, and a later one does.
        func askUntilClosedUnderARequest(_ ask: () async throws -> [UInt8]) async throws {
            var rounds = 0
            while rounds < 10 {
                if rounds > 0 { try await Task.sleep(for: .milliseconds(100)) }
                rounds += 1
                #expect(try await ask() == ClosingResponder.answer, "round \(rounds)")
                let seen = counts.withLock { $0 }
                if seen.requests > seen.answered { break }
            }
            let seen = counts.withLock { $0 }
            #expect(seen.answered == rounds, "\(seen) in \(rounds) rounds")
            #expect(
                seen.requests == seen.answered + 1, "no round, or more than one, met a kept connection closing: \(seen)"
            )
        }

        static func start(answering: Int) async throws -> ClosingResponder {
            let counts = SharedCounts()
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    counts.withLock { $0.connections += 1 }
                    return channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(
                            Handler(answering: answering, counts: counts))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            return ClosingResponder(channel: channel, counts: counts)
        }

        final class Handler: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = HTTPServerRequestPart
            typealias OutboundOut = HTTPServerResponsePart
            let answering: Int
            let counts: SharedCounts
            var requests = 0
            var closed = false

            init(answering: Int, counts: SharedCounts) {
                self.answering = answering
                self.counts = counts
            }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                switch unwrapInboundIn(data) {
                case .head:
                    requests += 1
                    let keptOpen = counts.withLock { counts in
                        counts.requests += 1
                        guard answering > 0 else { return false }
                        guard requests > 1, !counts.closedKept else { return true }
                        counts.closedKept = true
                        return false
                    }
                    if !keptOpen {
                        closed = true
                        context.close(promise: nil)
                    }
                case .body:
                    break
                case .end:
                    guard !closed else { return }
                    counts.withLock { $0.answered += 1 }
                    var head = HTTPResponseHead(version: .http1_1, status: .ok)
                    head.headers.add(name: "Content-Length", value: "\(ClosingResponder.answer.count)")
                    context.write(wrapOutboundOut(.head(head)), promise: nil)
                    context.write(
                        wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: ClosingResponder.answer)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }

    /// A port where nothing listens: the refusal is the answer, and its reason says so.
    @Test func aClosedPortFailsWithConnectionRefused() async throws {
        let closed = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = closed.localAddress?.port ?? 0
        try await closed.close()
        // A deadline far away: only a connection attempt that is not retried fails with the refusal itself.
        let (requester, request) = try Self.requester(timeout: .seconds(30))
        let result = await requester.ask(request: request, uri: "http://127.0.0.1:\(port)/", key: nil, id: nil)
        guard case .failure(let failure) = result else {
            Issue.record("nothing listens, yet there was an answer")
            return
        }
        #expect(failure.description.contains("connection refused"), "\(failure)")
    }
}
