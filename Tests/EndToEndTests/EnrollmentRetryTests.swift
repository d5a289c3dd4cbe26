import CampusAuthority
import CampusPKI
import CampusStudent
import Synchronization
import Testing

/// An enrollment is tried again after a lost connection, also once the request (with the code's proof) has left:
/// CUHK answers the same key with the certificate the code paid for, so a code is never spent twice.
@Suite struct EnrollmentRetryTests {
    final class Count: Sendable {
        private let value = Mutex(0)
        var current: Int { value.withLock { $0 } }
        func add() { value.withLock { $0 += 1 } }
    }

    @Test func aConnectionCutBeforeTheRequestIsTriedAgain() async throws {
        try await LiveServers.with { servers in
            let relay = CuttingRelay(target: servers.cuhkAddress, first: .cutAtOnce)
            let sleeps = Count()
            let (_, outcome) = try await relay.run { address in
                var client = try servers.enrollment(for: sid)
                client.configuration.certificateAuthority = address
                client.retry = RetryPolicy(retries: 2, sleep: { _ in sleeps.add() })
                return try await client.enroll(sid)
            }
            #expect(outcome == .issued)
            #expect(relay.connections == 2)
            #expect(sleeps.current == 1)
        }
    }

    @Test func aConnectionCutAfterTheRequestLeftIsTriedAgain() async throws {
        try await LiveServers.with { servers in
            // The hello is the client's first write, the request its second.
            let relay = CuttingRelay(target: servers.cuhkAddress, first: .cutAfterClientReads(2))
            let sleeps = Count()
            let (credentials, outcome) = try await relay.run { address in
                var client = try servers.enrollment(for: sid)
                client.configuration.certificateAuthority = address
                client.retry = RetryPolicy(retries: 2, sleep: { _ in sleeps.add() })
                return try await client.enroll(sid)
            }
            #expect(outcome == .issued)
            #expect(credentials.certificate.subject.studentID == sid)
            #expect(relay.connections == 2)
            #expect(sleeps.current == 1)
        }
    }

    /// The answer is lost after CUHK recorded the certificate and used the code: the retry, a new channel with the
    /// same key and a new proof of the same code, gets that certificate, and no second one is made.
    @Test func aCertificateLostOnTheWayIsSentAgainForTheSameCode() async throws {
        try await EnrollmentChannelTests.withRoster { servers, registry, code in
            // The hello and the request are the client's first two writes; CUHK's answer to the request, the
            // certificate, is what the relay drops.
            let relay = CuttingRelay(target: servers.cuhkAddress, first: .cutAnswerAfterClientReads(2))
            let sleeps = Count()
            let (credentials, outcome) = try await relay.run { address in
                var client = try EnrollmentChannelTests().client(servers, at: address, code: code)
                client.retry = RetryPolicy(retries: 2, sleep: { _ in sleeps.add() })
                return try await client.enroll(sid)
            }
            #expect(outcome == .issued)
            #expect(relay.connections == 2)
            #expect(sleeps.current == 1)
            let issued = try await registry.certificates(for: sid)
            #expect(issued.count == 1)
            #expect(issued.first?.serial == credentials.certificate.serialNumber.hex)
            #expect(try await registry.codes().first?.usedAt != nil)
        }
    }

    /// The same, with the connection cut inside the frame that carries the certificate (a CUHK that stopped, or a load
    /// balancer that cut it, mid-answer): a lost connection, not a server that does not speak the protocol.
    @Test func aCertificateCutInsideItsFrameIsSentAgainForTheSameCode() async throws {
        try await EnrollmentChannelTests.withRoster { servers, registry, code in
            let relay = CuttingRelay(target: servers.cuhkAddress, first: .truncateAnswerAfterClientReads(2))
            let (credentials, outcome) = try await relay.run { address in
                var client = try EnrollmentChannelTests().client(servers, at: address, code: code)
                client.retry = RetryPolicy(retries: 2, sleep: { _ in })
                return try await client.enroll(sid)
            }
            #expect(outcome == .issued)
            #expect(relay.connections == 2)
            let issued = try await registry.certificates(for: sid)
            #expect(issued.map(\.serial) == [credentials.certificate.serialNumber.hex])
        }
    }

    /// Without retries, a cut after the request left still ends the run with a network failure.
    @Test func withoutRetriesACutAfterTheRequestEndsTheRun() async throws {
        try await LiveServers.with { servers in
            let relay = CuttingRelay(target: servers.cuhkAddress, first: .cutAfterClientReads(2))
            let failure = try await relay.run { address -> StudentError? in
                var client = try servers.enrollment(for: sid)
                client.configuration.certificateAuthority = address
                client.retry = .none
                do {
                    _ = try await client.enroll(sid)
                    return nil
                } catch {
                    return error as? StudentError
                }
            }
            #expect(failure?.exitCode == 5)
            #expect(relay.connections == 1)
        }
    }
}
