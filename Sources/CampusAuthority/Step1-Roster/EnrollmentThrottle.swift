import CampusPKI
import Foundation
import Synchronization

/// Wrong enrollment attempts, counted per source address (``SourceAddress``: an IPv4 address or an IPv6 /64), never
/// per student ID: nobody can lock a student out, and an unknown student ID leaves nothing behind.
///
/// Each address may make ``Configuration/attempts`` wrong attempts and regains one every ``Configuration/refill``.
/// A wrong attempt with none left puts the address on the throttle list in `cuhk.db` for
/// ``Configuration/duration``; until then its wrong attempts are answered `enrollment-throttled` (113), with the time
/// to try again. A right proof is never throttled: CUHK checks the proof first. The counts of addresses under their
/// budget live in memory, at most ``Configuration/maximumTracked`` of them; only an address that crosses its budget
/// is written down, so `cuhk throttle list` and the dashboard can show it and `cuhk throttle clear` can lift it
/// while CUHK runs.
public final class EnrollmentThrottle: Sendable {
    /// The budget.
    public struct Configuration: Sendable, Hashable {
        /// Wrong attempts an address may make before it is throttled.
        public var attempts: Int
        /// An address regains one attempt every so many seconds.
        public var refill: TimeInterval
        /// How long an address that used up its attempts stays throttled.
        public var duration: TimeInterval
        /// The most addresses whose counts are kept in memory.
        public var maximumTracked: Int
        /// The most throttled addresses kept in `cuhk.db`.
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

    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    public let configuration: Configuration
    public let records: any ThrottleRecords
    private let buckets = Mutex<[SourceAddress: Bucket]>([:])

    public init(configuration: Configuration = Configuration(), records: any ThrottleRecords) {
        self.configuration = configuration
        self.records = records
    }

    /// How many addresses' counts are held in memory now.
    public var trackedCount: Int { buckets.withLock { $0.count } }

    /// Counts a wrong attempt from `address`.
    ///
    /// - Returns: Until when the address is throttled, if it is (it was already, or this attempt was one too many);
    ///   `nil` when the attempt is within its budget.
    public func recordFailure(from address: SourceAddress, at now: Date) async throws -> Date? {
        if let until = try await records.throttledUntil(address, at: now) { return until }
        let configuration = configuration
        let crossed = buckets.withLock { buckets -> Bool in
            var bucket = buckets[address] ?? Bucket(tokens: Double(configuration.attempts), updated: now)
            bucket.tokens = Self.refilled(bucket, at: now, configuration: configuration)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                buckets[address] = bucket
                Self.prune(&buckets, at: now, configuration: configuration)
                return false
            }
            // From now on the list in cuhk.db decides; once it is lifted or over, the address starts afresh.
            buckets[address] = nil
            return true
        }
        guard crossed else { return nil }
        let until = now.addingTimeInterval(configuration.duration)
        try await records.recordThrottle(
            ThrottledAddress(address: address, since: now, until: until), at: now,
            keepingAtMost: configuration.maximumRecorded)
        return until
    }

    private static func refilled(_ bucket: Bucket, at now: Date, configuration: Configuration) -> Double {
        let regained = max(0, now.timeIntervalSince(bucket.updated)) / max(configuration.refill, 0.001)
        return min(Double(configuration.attempts), bucket.tokens + regained)
    }

    /// Keeps at most `maximumTracked` counts: first forgets the addresses that have regained every attempt (they
    /// are as good as new), then the longest quiet.
    private static func prune(_ buckets: inout [SourceAddress: Bucket], at now: Date, configuration: Configuration) {
        guard buckets.count > configuration.maximumTracked else { return }
        buckets = buckets.filter {
            refilled($0.value, at: now, configuration: configuration) < Double(configuration.attempts)
        }
        if buckets.count > configuration.maximumTracked {
            let keep = buckets.sorted { $0.value.updated > $1.value.updated }.prefix(configuration.maximumTracked)
            buckets = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }
}
