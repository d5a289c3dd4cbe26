import CampusPKI
import Foundation
import Synchronization

/// A throttle list that forgets everything on exit; for unit tests.
public final class InMemoryThrottleRecords: ThrottleRecords {
    private let entries = Mutex<[SourceAddress: ThrottledAddress]>([:])

    public init() {}

    public func throttledUntil(_ address: SourceAddress, at time: Date) async throws -> Date? {
        entries.withLock { $0[address].flatMap { $0.until > time ? $0.until : nil } }
    }

    public func recordThrottle(_ entry: ThrottledAddress, at time: Date, keepingAtMost: Int) async throws {
        entries.withLock { entries in
            entries = entries.filter { $0.value.until > time }
            entries[entry.address] = entry
            while entries.count > keepingAtMost, let oldest = entries.values.min(by: { $0.since < $1.since }) {
                entries[oldest.address] = nil
            }
        }
    }

    public func throttledAddresses(at time: Date) async throws -> [ThrottledAddress] {
        entries.withLock { $0.values.filter { $0.until > time }.sorted { $0.since < $1.since } }
    }

    public func clearThrottle(_ address: SourceAddress?) async throws -> Int {
        entries.withLock { entries in
            guard let address else {
                defer { entries = [:] }
                return entries.count
            }
            return entries.removeValue(forKey: address) == nil ? 0 : 1
        }
    }
}
