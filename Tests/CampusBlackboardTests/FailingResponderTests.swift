import AsyncHTTPClient
import CampusPKI
import Foundation
import NIOCore
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
        #expect(HTTPClient.Configuration().connectionPool.retryConnectionEstablishment == true)
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
