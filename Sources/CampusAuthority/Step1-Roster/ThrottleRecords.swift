import CampusPKI
import Foundation

/// An address on the throttle list.
public struct ThrottledAddress: Sendable, Hashable {
    public var address: SourceAddress
    /// When it used up its attempts.
    public var since: Date
    /// When its wrong attempts are answered again.
    public var until: Date

    public init(address: SourceAddress, since: Date, until: Date) {
        self.address = address
        self.since = since
        self.until = until
    }
}

/// Where wrong codes are counted and the throttle list lives: CUHK's store, so the `cuhk throttle` commands and the
/// dashboard see and clear it while CUHK runs, and every CUHK sharing the store counts against one budget.
public protocol ThrottleRecords: Sendable {
    /// Counts a wrong attempt from `address` in one atomic step: an address on the list stays there; otherwise its
    /// allowance is read, ``EnrollmentThrottle/spend(_:of:at:configuration:)`` applied, and the result written back
    /// (or the address put on the list, dropping entries that are over and the oldest beyond
    /// ``EnrollmentThrottle/Configuration/maximumRecorded``). Allowances that are full again are forgotten, and the
    /// oldest beyond ``EnrollmentThrottle/Configuration/maximumTracked``.
    ///
    /// - Returns: Until when the address is throttled, if it is; `nil` when the attempt is within its budget.
    func recordFailure(from address: SourceAddress, at time: Date, budget: EnrollmentThrottle.Configuration)
        async throws -> Date?
    /// Until when `address` is throttled, if it is at `time`.
    func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date?
    /// Puts an address on the list, dropping entries that are over, and the oldest beyond `keepingAtMost`.
    func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws
    /// The addresses throttled at `time`, longest first.
    func throttledAddresses(at time: Date) async throws -> [ThrottledAddress]
    /// Lifts the throttle of one address, or of every address when `nil`, and forgets its count of wrong attempts.
    ///
    /// - Returns: How many were lifted.
    func clearThrottle(_ address: SourceAddress?) async throws -> Int
}
