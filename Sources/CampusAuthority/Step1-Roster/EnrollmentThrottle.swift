import CampusPKI
import Foundation

/// Wrong enrollment attempts, counted per source address (``SourceAddress``: an IPv4 address or an IPv6 /64), never
/// per student ID: nobody can lock a student out, and an unknown student ID leaves nothing behind.
///
/// Each address may make ``Configuration/attempts`` wrong attempts and regains one every ``Configuration/refill``.
/// A wrong attempt with none left puts the address on the throttle list for ``Configuration/duration``; until then
/// its wrong attempts are answered `enrollment-throttled` (113), with the time to try again. A right proof is never
/// throttled: CUHK checks the proof first.
///
/// The counts live in CUHK's store with the list (``ThrottleRecords``), and each wrong attempt is counted in one
/// atomic step there, so that several CUHK instances sharing one database count against one budget: an address
/// cannot spread its guesses over the instances behind a load balancer. At most ``Configuration/maximumTracked``
/// addresses' counts are kept (an address that has all its attempts again is forgotten), and at most
/// ``Configuration/maximumRecorded`` addresses on the list, so `cuhk throttle list` and the dashboard show it and
/// `cuhk throttle clear` lifts it while CUHK runs.
public final class EnrollmentThrottle: Sendable {
    /// The budget.
    public struct Configuration: Sendable, Hashable {
        /// Wrong attempts an address may make before it is throttled.
        public var attempts: Int
        /// An address regains one attempt every so many seconds.
        public var refill: TimeInterval
        /// How long an address that used up its attempts stays throttled.
        public var duration: TimeInterval
        /// The most addresses whose counts are kept.
        public var maximumTracked: Int
        /// The most throttled addresses kept on the list.
        public var maximumRecorded: Int

        public init(
            attempts: Int = 10, refill: TimeInterval = 60, duration: TimeInterval = 15 * 60,
            maximumTracked: Int = 10_000, maximumRecorded: Int = 1_000
        ) {
            self.attempts = attempts
            self.refill = refill
            self.duration = duration
            self.maximumTracked = maximumTracked
            self.maximumRecorded = maximumRecorded
        }
    }

    /// What an address has left of its budget, as the store keeps it between two wrong attempts.
    public struct Allowance: Sendable, Hashable {
        /// Wrong attempts left (fractions regained since ``updated`` are added when it is next read).
        public var tokens: Double
        /// When it was last counted.
        public var updated: Date

        public init(tokens: Double, updated: Date) {
            self.tokens = tokens
            self.updated = updated
        }
    }

    /// What one wrong attempt does to an address's allowance.
    public enum Spent: Sendable, Hashable {
        /// Within its budget: store this allowance.
        case allowed(Allowance)
        /// One too many: forget its allowance and put it on the list (from then on the list decides; once the entry
        /// is lifted or over, the address starts afresh).
        case throttled(ThrottledAddress)
    }

    public let configuration: Configuration
    public let records: any ThrottleRecords

    public init(configuration: Configuration = Configuration(), records: any ThrottleRecords) {
        self.configuration = configuration
        self.records = records
    }

    /// Counts a wrong attempt from `address`.
    ///
    /// - Returns: Until when the address is throttled, if it is (it was already, or this attempt was one too many);
    ///   `nil` when the attempt is within its budget.
    public func recordFailure(from address: SourceAddress, at now: Date) async throws -> Date? {
        try await records.recordFailure(from: address, at: now, budget: configuration)
    }

    /// The rule for one wrong attempt of `address`, whose stored allowance is `allowance` (`nil`: none stored, a full
    /// budget). Stores apply it inside the transaction that reads and writes the allowance.
    public static func spend(
        _ allowance: Allowance?, of address: SourceAddress, at now: Date, configuration: Configuration
    ) -> Spent {
        var tokens =
            allowance.map { refilled($0, at: now, configuration: configuration) } ?? Double(configuration.attempts)
        if tokens >= 1 {
            tokens -= 1
            return .allowed(Allowance(tokens: tokens, updated: now))
        }
        return .throttled(
            ThrottledAddress(address: address, since: now, until: now.addingTimeInterval(configuration.duration)))
    }

    /// Allowances last counted before this time have all their attempts again at `now`, so a store may forget them.
    public static func fullAgainBefore(_ now: Date, configuration: Configuration) -> Date {
        now.addingTimeInterval(-Double(configuration.attempts) * max(configuration.refill, 0.001))
    }

    /// The allowance's attempts at `now`: what it had, plus one per ``Configuration/refill`` since, at most the budget.
    static func refilled(_ allowance: Allowance, at now: Date, configuration: Configuration) -> Double {
        let regained = max(0, now.timeIntervalSince(allowance.updated)) / max(configuration.refill, 0.001)
        return min(Double(configuration.attempts), allowance.tokens + regained)
    }
}
