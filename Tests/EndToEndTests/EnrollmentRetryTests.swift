import CampusAuthority
import CampusPKI
import CampusStudent
import Synchronization
import Testing

/// An enrollment is tried again only while CUHK cannot have used the code: before the request left.
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

    @Test func aConnectionCutAfterTheRequestLeftIsNotTriedAgain() async throws {
        try await LiveServers.with { servers in
            // The hello is the client's first write, the request (with the code's proof) its second.
            let relay = CuttingRelay(target: servers.cuhkAddress, first: .cutAfterClientReads(2))
            let sleeps = Count()
            let failure = try await relay.run { address -> StudentError? in
                var client = try servers.enrollment(for: sid)
                client.configuration.certificateAuthority = address
                client.retry = RetryPolicy(retries: 2, sleep: { _ in sleeps.add() })
                do {
                    _ = try await client.enroll(sid)
                    return nil
                } catch {
                    return error as? StudentError
                }
            }
            #expect(failure?.exitCode == 5)
            #expect(relay.connections == 1)
            #expect(sleeps.current == 0)
        }
    }
}
