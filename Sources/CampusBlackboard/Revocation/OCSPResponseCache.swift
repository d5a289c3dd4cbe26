import CampusPKI
import Foundation
import Synchronization

/// OCSP responses Blackboard has fetched, each kept until its `nextUpdate`, so that a student's many sessions
/// cost one request to CUHK an hour rather than one each; bounded, so that many certificates cannot fill memory.
///
/// Only responses signed by the trusted root that say `good` or `revoked` are kept, so a forged or failed
/// answer is never served from here.
public final class OCSPResponseCache: Sendable {
    /// Which certificate at which responder: the request's DER `CertID` and the URL.
    struct Key: Hashable, Sendable {
        var url: String
        var certificateID: [UInt8]
    }

    private struct Entry: Sendable {
        var response: [UInt8]
        var expires: Date
    }

    /// 10,000 entries, a few MB at most.
    public static let defaultCapacity = 10_000

    public let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    public init(capacity: Int = OCSPResponseCache.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    /// How many responses are kept now.
    public var count: Int { entries.withLock { $0.count } }

    /// The kept response, if it has not reached its `nextUpdate` at `now`.
    func response(for key: Key, at now: Date) -> [UInt8]? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.response
        }
    }

    /// Keeps `response` until `expires`; when full, drops the expired entries and then, if need be, the one that
    /// expires first.
    func store(_ response: [UInt8], for key: Key, until expires: Date, now: Date) {
        guard expires > now else { return }
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity, let first = entries.min(by: { $0.value.expires < $1.value.expires }) {
                    entries[first.key] = nil
                }
            }
            entries[key] = Entry(response: response, expires: expires)
        }
    }
}
