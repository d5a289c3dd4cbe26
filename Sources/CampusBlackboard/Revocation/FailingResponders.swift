import Foundation
import Synchronization

/// The revocation responders that failed a moment ago, by URL, so that while one is down each new handshake is
/// answered at once (by `--revocation hard` or `soft`) instead of waiting for the responder again.
///
/// A failure is remembered for ``memory`` (10 s by default): long enough that a deadline rush against a dead
/// responder costs one wait per 10 s rather than one per student, short enough that a responder that is back is
/// asked again soon. Bounded: at most ``capacity`` URLs are remembered, the oldest failure forgotten first.
public final class FailingResponders: Sendable {
    /// How long a failure is remembered by default.
    public static let defaultMemory: TimeInterval = 10
    /// The most URLs remembered.
    public static let capacity = 64

    public let memory: TimeInterval
    private let failedAt = Mutex<[String: Date]>([:])

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

    /// The responder at `url` failed at `time`.
    public func recordFailure(of url: String, at time: Date) {
        failedAt.withLock { failedAt in
            if failedAt[url] == nil, failedAt.count >= Self.capacity,
                let oldest = failedAt.min(by: { $0.value < $1.value })
            {
                failedAt[oldest.key] = nil
            }
            failedAt[url] = time
        }
    }

    /// The responder at `url` answered: it is not remembered as failing.
    public func recordSuccess(of url: String) {
        _ = failedAt.withLock { $0.removeValue(forKey: url) }
    }
}
