import CampusPKI
import CampusStudent
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The Student's retry policy: how long it waits, how often it tries, and which failures it tries again.
@Suite struct RetryPolicyTests {
    /// Records the waits instead of waiting.
    final class Sleeps: Sendable {
        private let recorded = Mutex<[Duration]>([])
        var all: [Duration] { recorded.withLock { $0 } }
        func record(_ duration: Duration) { recorded.withLock { $0.append(duration) } }
    }

    static let lost = RetryPolicy.Attempt(
        error: .network("lost"), failure: TransientFailure(kind: .lost, reason: "connection reset by the other side"))

    @Test func theWaitsDoubleUpToTheCapAndJitterTakesAtMostHalf() {
        let full = RetryPolicy(
            retries: 6, initialDelay: .seconds(1), maximumDelay: .seconds(8), random: { 0.999_999_999 })
        #expect((1...6).map(full.baseDelay(beforeRetry:)) == [1, 2, 4, 8, 8, 8].map { Duration.seconds($0) })
        let least = RetryPolicy(retries: 6, initialDelay: .seconds(1), maximumDelay: .seconds(8), random: { 0 })
        #expect((1...5).map(least.delay(beforeRetry:)) == [0.5, 1, 2, 4, 4].map { Duration.seconds($0) })
        let half = RetryPolicy(retries: 3, random: { 0.5 })
        #expect(half.delay(beforeRetry: 2) == .milliseconds(1500))
        // The system generator: always within [half, all] of the exponential delay.
        let random = RetryPolicy(retries: 3)
        for retry in 1...3 {
            let delay = random.delay(beforeRetry: retry)
            #expect(delay >= random.baseDelay(beforeRetry: retry) / 2 && delay <= random.baseDelay(beforeRetry: retry))
        }
    }

    @Test func aTransientFailureIsTriedAgainUntilTheAttemptsAreUsedWithTheWaitsInBetween() async throws {
        let sleeps = Sleeps()
        let policy = RetryPolicy(retries: 3, sleep: { sleeps.record($0) }, random: { 0 })
        let attempts = Mutex(0)
        var announced: [RetryPolicy.Retry] = []
        await #expect(throws: StudentError.self) {
            try await policy.run(
                { attempt in
                    attempts.withLock { $0 = attempt }
                    throw Self.lost
                }, announce: { announced.append($0) })
        }
        #expect(policy.attempts == 4)
        #expect(attempts.withLock { $0 } == 4)
        #expect(sleeps.all == [.milliseconds(500), .seconds(1), .seconds(2)])
        #expect(announced.map(\.attempt) == [2, 3, 4])
        #expect(
            announced.first?.line(server: .blackboard(ServerAddress(host: "localhost", port: 3141)))
                == "connection to Blackboard at localhost:3141 lost (connection reset by the other side); retrying in "
                + "0.5 s (attempt 2 of 4)")
    }

    @Test func theAttemptAfterAFailureCanSucceed() async throws {
        let sleeps = Sleeps()
        let policy = RetryPolicy(retries: 3, sleep: { sleeps.record($0) }, random: { 0 })
        let result = try await policy.run { attempt in
            if attempt < 3 { throw Self.lost }
            return attempt
        }
        #expect(result == 3)
        #expect(sleeps.all.count == 2)
    }

    @Test func zeroRetriesTriesOnce() async throws {
        let sleeps = Sleeps()
        let policy = RetryPolicy(retries: 0, sleep: { sleeps.record($0) })
        let attempts = Mutex(0)
        await #expect(throws: StudentError.self) {
            try await policy.run { _ in
                attempts.withLock { $0 += 1 }
                throw Self.lost
            }
        }
        #expect(attempts.withLock { $0 } == 1)
        #expect(sleeps.all.isEmpty)
    }

    @Test func aFailureThatIsNotTransientIsNotTriedAgain() async throws {
        let sleeps = Sleeps()
        let policy = RetryPolicy(retries: 3, sleep: { sleeps.record($0) })
        let attempts = Mutex(0)
        await #expect(throws: StudentError.self) {
            try await policy.run { _ in
                attempts.withLock { $0 += 1 }
                throw StudentError.refusedByBlackboard(CampusError(.untrustedCertificate, "no"))
            }
        }
        #expect(attempts.withLock { $0 } == 1)
        #expect(sleeps.all.isEmpty)
    }

    @Test(arguments: [CampusError.Code.serverBusy, .shuttingDown])
    func busyAndShuttingDownAreTransient(code: CampusError.Code) {
        #expect(
            TransientFailure.of(StudentError.refusedByBlackboard(CampusError(code, "later")))?.kind == .refused(code))
        #expect(TransientFailure.of(StudentError.refusedByCUHK(CampusError(code, "later")))?.kind == .refused(code))
    }

    @Test(arguments: [
        CampusError.Code.untrustedCertificate, .certificateRevoked, .sidMismatch, .keyConfirmationFailed,
        .storageQuotaExceeded, .reportLimitReached, .reportTooLarge, .messageTooLarge, .unknownAssignment,
        .deadlinePassed, .enrollmentDenied, .codeUsed, .codeExpired, .enrollmentThrottled, .renewalDenied,
        .internalError, .storageFailed, .malformedMessage, .tooManySessions,
    ])
    func refusalsAboutTheStudentOrTheRequestAreNotTransient(code: CampusError.Code) {
        #expect(TransientFailure.of(StudentError.refusedByBlackboard(CampusError(code, "no"))) == nil)
        #expect(TransientFailure.of(StudentError.refusedByCUHK(CampusError(code, "no"))) == nil)
    }

    @Test func connectionFailuresAreTransientAndOtherFailuresAreNot() {
        #expect(
            TransientFailure.of(
                CampusError(.connectionClosed, "the connection failed (connection reset by the other side)"))
                == TransientFailure(kind: .lost, reason: "connection reset by the other side"))
        #expect(TransientFailure.of(CampusError(.timeout, "nothing received for 30 s"))?.kind == .silent)
        #expect(
            TransientFailure.of(
                CampusError(.truncatedFrame, "the connection ended inside a frame (512 bytes left over)"))
                == TransientFailure(kind: .lost, reason: "closed inside a frame"))
        #expect(TransientFailure.of(IOError(errnoCode: ECONNRESET, reason: "read"))?.kind == .lost)
        #expect(TransientFailure.of(ChannelError.ioOnClosedChannel)?.kind == .lost)
        #expect(TransientFailure.of(CampusError(.malformedMessage, "garbage")) == nil)
        #expect(TransientFailure.of(StudentError.blackboardNotAuthenticated(.init(.name, "x"))) == nil)
        #expect(TransientFailure.of(StudentError.local("empty report")) == nil)
        #expect(TransientFailure.of(StudentError.invalidResponse("bad receipt")) == nil)
    }

    @Test func aRewoundFeedGivesWhatItGaveThenGoesOn() async throws {
        let feed = ReplayingFeed(SequenceFeed(["one", "two", "three"].map { Array($0.utf8) }))
        #expect(try await feed.next(waitingAtMost: .seconds(1)) == .message(Array("one".utf8)))
        #expect(try await feed.next(waitingAtMost: .seconds(1)) == .message(Array("two".utf8)))
        feed.rewind()
        var items: [FeedItem] = []
        while true {
            let item = try await feed.next(waitingAtMost: .seconds(1))
            items.append(item)
            if item == .end { break }
        }
        #expect(items == ["one", "two", "three"].map { FeedItem.message(Array($0.utf8)) } + [.end])
        feed.rewind()
        #expect(try await feed.next(waitingAtMost: .seconds(1)) == .message(Array("one".utf8)))
    }
}
