import CampusBlackboard
import CampusPKI
import CampusStudent
import Foundation
import NIOCore
import Testing

/// A person typing may pause longer than Blackboard's idle timeout; the Student keeps the session alive meanwhile.
@Suite struct KeepAliveTests {
    /// One message, a pause of `pause`, another message.
    struct PausingFeed: MessageFeed {
        var pause: Duration
        var step = 0
        var pausedUntil: ContinuousClock.Instant?

        mutating func next(waitingAtMost limit: Duration) async throws -> FeedItem {
            switch step {
            case 0:
                step = 1
                pausedUntil = .now + pause
                return .message(Array("before the pause".utf8))
            case 1:
                let until = pausedUntil!
                if ContinuousClock.now + limit < until {
                    try await Task.sleep(for: limit)
                    return .idle
                }
                try await Task.sleep(until: until)
                step = 2
                return .message(Array("after the pause".utf8))
            default:
                return .end
            }
        }
    }

    @Test func aPauseLongerThanTheIdleTimeoutKeepsTheSession() async throws {
        try await LiveServers.with(configureBlackboard: { $0.idleTimeout = .seconds(5) }) { servers in
            let credentials = try await servers.enroll(sid)
            var feed = PausingFeed(pause: .seconds(8))
            let receipt = try await UploadClient(
                configuration: .init(
                    blackboard: servers.blackboardAddress, root: try servers.root, keepAliveInterval: .milliseconds(300)
                )
            ).upload(from: &feed, as: credentials).receipt.document
            #expect(receipt.messageCount == 2)
            let (_, messages) = try #require(try await servers.blackboard.store.report(Int64(receipt.report)))
            #expect(
                messages.map { String(decoding: $0.content, as: UTF8.self) } == ["before the pause", "after the pause"])
        }
    }

    @Test func withoutKeepAlivesTheSameFeedTimesOut() async throws {
        try await LiveServers.with(configureBlackboard: { $0.idleTimeout = .seconds(5) }) { servers in
            let credentials = try await servers.enroll(sid)
            var feed = PausingFeed(pause: .seconds(8))
            await #expect(throws: StudentError.self) {
                // A keep-alive interval longer than the pause: nothing is sent while the feed is idle.
                _ = try await UploadClient(
                    configuration: .init(
                        blackboard: servers.blackboardAddress, root: try servers.root, keepAliveInterval: .seconds(30))
                ).upload(from: &feed, as: credentials)
            }
        }
    }
}
