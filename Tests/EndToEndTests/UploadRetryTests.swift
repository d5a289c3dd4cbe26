import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import Synchronization
import Testing
import X509

/// A Student whose session with Blackboard breaks tries again through the same address: the report counts once, on
/// the attempt that gets the receipt, and what the broken session stored stays, as an incomplete attempt.
@Suite struct UploadRetryTests {
    /// Values recorded from closures that escape.
    final class Recorded<Value: Sendable>: Sendable {
        private let values = Mutex<[Value]>([])
        var all: [Value] { values.withLock { $0 } }
        func record(_ value: Value) { values.withLock { $0.append(value) } }
    }

    static let messages = ["first", "second", "third"].map { Array($0.utf8) }

    /// Gives ``messages``; when `cut` is set, cuts the connection once the first two are acknowledged.
    final class CuttingFeed: MessageFeed {
        let cut: (@Sendable () async -> Void)?
        var index = 0

        init(cut: (@Sendable () async -> Void)?) {
            self.cut = cut
        }

        func next(waitingAtMost: Duration) async throws -> FeedItem {
            defer { index += 1 }
            // With a window of 1, the third message is asked for only after the second was acknowledged, that is
            // after Blackboard committed both.
            if index == 2, let cut { await cut() }
            return index < UploadRetryTests.messages.count ? .message(UploadRetryTests.messages[index]) : .end
        }
    }

    @Test func aSessionCutMidReportIsTriedAgainAndTheReportCountsOnce() async throws {
        try await LiveServers.with { servers in try await Self.cutAndRetry(servers) }
    }

    static func cutAndRetry(_ servers: LiveServers) async throws {
        do {
            let credentials = try await servers.enroll(sid)
            let relay = CuttingRelay(target: servers.blackboardAddress)
            let sleeps = Recorded<Duration>()
            let feeds = Recorded<Int>()
            let retries = Recorded<RetryPolicy.Retry>()
            let policy = RetryPolicy(retries: 3, initialDelay: .milliseconds(10), sleep: { sleeps.record($0) })
            let root = try servers.root
            let result = try await relay.run { address in
                try await Self.upload(
                    to: address, root: root, credentials: credentials, policy: policy, relay: relay, feeds: feeds,
                    retries: retries)
            }
            // Received on the second attempt, for the whole report.
            #expect(feeds.all.count == 2)
            #expect(relay.connections == 2)
            #expect(retries.all.map(\.attempt) == [2])
            #expect(retries.all.first?.attempts == 4)
            #expect(sleeps.all.count == 1)
            #expect(result.receipt.document.messageCount == 3)
            // One report, with the three messages.
            let reports = try await servers.blackboard.store.reports(for: sid)
            #expect(reports.count == 1)
            let (_, stored) = try #require(try await servers.blackboard.store.report(reports[0].id))
            #expect(stored.map(\.content) == Self.messages)
            #expect(
                try await servers.blackboard.store.usage(of: sid, in: Assignment.defaultName).reportsInAssignment == 1)
            // The cut session's two acknowledged messages are kept, as an incomplete attempt without a number.
            let attempts = try await servers.blackboard.store.incompleteAttempts(for: sid)
            #expect(attempts.count == 1)
            #expect(attempts.first?.messageCount == 2)
            #expect(attempts.first?.storedBytes == Int64("first".utf8.count + "second".utf8.count))
        }
    }

    static func upload(
        to address: ServerAddress, root: Certificate, credentials: StudentCredentials, policy: RetryPolicy,
        relay: CuttingRelay, feeds: Recorded<Int>, retries: Recorded<RetryPolicy.Retry>
    ) async throws -> UploadClient.Result {
        let client = UploadClient(configuration: .init(blackboard: address, root: root, window: 1))
        let makeFeed: () throws -> any MessageFeed = {
            feeds.record(0)
            guard feeds.all.count == 1 else { return CuttingFeed(cut: nil) }
            return CuttingFeed(cut: { @Sendable in await relay.cut() })
        }
        return try await client.upload(
            feeds: makeFeed, as: credentials, retrying: policy, announce: { retries.record($0) })
    }

    @Test func withoutRetriesTheCutSessionFailsAndLeavesAnIncompleteAttempt() async throws {
        try await LiveServers.with { servers in
            let credentials = try await servers.enroll(sid)
            let relay = CuttingRelay(target: servers.blackboardAddress)
            let failure = try await relay.run { address -> StudentError? in
                do {
                    _ = try await UploadClient(
                        configuration: .init(blackboard: address, root: try servers.root, window: 1)
                    ).upload(
                        feeds: { CuttingFeed(cut: { await relay.cut() }) }, as: credentials, retrying: .none)
                    return nil
                } catch {
                    return error as? StudentError
                }
            }
            #expect(failure?.exitCode == 5)
            #expect(relay.connections == 1)
            #expect(try await servers.blackboard.store.reports(for: sid).isEmpty)
            #expect(try await servers.blackboard.store.incompleteAttempts(for: sid).map(\.messageCount) == [2])
        }
    }

    @Test func aRefusalOfTheStudentsCertificateIsNotTriedAgain() async throws {
        // A certificate from another CUHK: Blackboard refuses it (untrusted-certificate), which no retry changes.
        try await LiveServers.with { other in
            let foreign = try await other.enroll(sid)
            try await LiveServers.with { servers in
                let relay = CuttingRelay(target: servers.blackboardAddress)
                let sleeps = Recorded<Duration>()
                let failure = try await relay.run { address -> StudentError? in
                    do {
                        _ = try await UploadClient(
                            configuration: .init(blackboard: address, root: try servers.root)
                        ).upload(
                            feeds: { SequenceFeed(Self.messages) }, as: foreign,
                            retrying: RetryPolicy(retries: 3, sleep: { sleeps.record($0) }))
                        return nil
                    } catch {
                        return error as? StudentError
                    }
                }
                guard case .refusedByBlackboard(let refusal) = failure else {
                    Issue.record("expected Blackboard's refusal, got \(String(describing: failure))")
                    return
                }
                #expect(refusal.code == .untrustedCertificate)
                #expect(relay.connections == 1)
                #expect(sleeps.all.isEmpty)
            }
        }
    }
}
