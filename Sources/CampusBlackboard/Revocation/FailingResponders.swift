import Foundation
import Synchronization

/// The revocation responders that failed a moment ago, by URL, so that while one is down each new handshake is
/// answered at once (by `--revocation hard` or `soft`) instead of waiting for the responder again.
///
/// A failure is remembered for ``memory`` (10 s by default): long enough that a deadline rush against a dead
/// responder costs one wait per 10 s rather than one per student, short enough that a responder that is back is
/// asked again soon. Bounded: at most ``capacity`` URLs are remembered, the oldest failure forgotten first.
///
/// Only a responder that looks down is remembered: one that could not be reached at all, or that left a request
/// unanswered without having answered any other within ``memory``. A busy responder during a deadline rush answers
/// most requests and lets a few time out; remembering it would turn each of those into an outage of every
/// handshake for ``memory`` seconds (in hard mode), so its slow requests fail alone.
public final class FailingResponders: Sendable {
    /// How long a failure is remembered by default.
    public static let defaultMemory: TimeInterval = 10
    /// The most URLs remembered.
    public static let capacity = 64

    /// Why a request to a responder failed.
    public enum Failure: Sendable, Equatable {
        /// No connection could be made (refused, no route, no answer to the connection attempt, no such host).
        case unreachable
        /// The request was not answered in time.
        case noAnswer
        /// Anything else: an HTTP error status, a malformed answer, a connection this process could not get from its
        /// own pool in time. The responder is alive.
        case other
    }

    public let memory: TimeInterval
    private let failedAt = Mutex<[String: Date]>([:])
    private let answeredAt = Mutex<[String: Date]>([:])

    public init(memory: TimeInterval = FailingResponders.defaultMemory) {
        self.memory = memory
    }

    /// Whether the responder at `url` failed less than ``memory`` before `now`.
    public func hasFailed(_ url: String, at now: Date) -> Bool {
        failedAt.withLock { failedAt in
            guard let time = failedAt[url] else { return false }
            guard now.timeIntervalSince(time) < memory else {
                failedAt[url] = nil
                return false
            }
            return true
        }
    }

    /// A request to the responder at `url` failed at `time`; it is remembered as failing when the failure says
    /// that it is down (see the type's discussion).
    public func recordFailure(of url: String, at time: Date, _ failure: Failure = .unreachable) {
        switch failure {
        case .other:
            return
        case .noAnswer:
            let answeredLately = answeredAt.withLock { answeredAt in
                answeredAt[url].map { time.timeIntervalSince($0) < memory } ?? false
            }
            guard !answeredLately else { return }
        case .unreachable:
            break
        }
        failedAt.withLock { failedAt in
            if failedAt[url] == nil, failedAt.count >= Self.capacity,
                let oldest = failedAt.min(by: { $0.value < $1.value })
            {
                failedAt[oldest.key] = nil
            }
            failedAt[url] = time
        }
    }

    /// The responder at `url` answered at `time`: it is not remembered as failing.
    public func recordSuccess(of url: String, at time: Date = Date()) {
        _ = failedAt.withLock { $0.removeValue(forKey: url) }
        answeredAt.withLock { answeredAt in
            if answeredAt[url] == nil, answeredAt.count >= Self.capacity,
                let oldest = answeredAt.min(by: { $0.value < $1.value })
            {
                answeredAt[oldest.key] = nil
            }
            answeredAt[url] = time
        }
    }
}
