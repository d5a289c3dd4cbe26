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

/// Where the throttle list lives: `cuhk.db`, so the `cuhk throttle` commands and the dashboard see and clear it while
/// CUHK runs.
public protocol ThrottleRecords: Sendable {
    /// Until when `address` is throttled, if it is at `time`.
    func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date?
    /// Puts an address on the list, dropping entries that are over, and the oldest beyond `keepingAtMost`.
    func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws
    /// The addresses throttled at `time`, longest first.
    func throttledAddresses(at time: Date) async throws -> [ThrottledAddress]
    /// Lifts the throttle of one address, or of every address when `nil`.
    ///
    /// - Returns: How many were lifted.
    func clearThrottle(_ address: SourceAddress?) async throws -> Int
}
