import CampusPKI
import Foundation
import Synchronization
import X509

/// OCSP responses Blackboard has fetched, each kept until its `nextUpdate`, so that a student's many sessions
/// cost one request to CUHK an hour rather than one each; bounded, so that many certificates cannot fill memory.
///
/// Only responses signed by the trusted root that say `good` or `revoked` are kept, so a forged or failed
/// answer is never served from here. Beside each, the certificates an OCSP check found good with exactly that
/// response (``OCSPCheckMemo``): while it is kept, unchanged, the check need not parse and verify it again.
public final class OCSPResponseCache: Sendable {
    /// Which certificate at which responder: the request's DER `CertID` and the URL.
    struct Key: Hashable, Sendable {
        var url: String
        var certificateID: [UInt8]
    }

    /// A certificate an OCSP check found good: its serial, and the serial of the root that issued it (a new root
    /// has a new serial; the serials are cheap to hash, the root's key is not).
    struct Vouch: Hashable, Sendable {
        var serial: Certificate.SerialNumber
        var issuerSerial: Certificate.SerialNumber
    }

    private struct Entry: Sendable {
        var response: [UInt8]
        var expires: Date
    }

    private struct State: Sendable {
        var entries: [Key: Entry] = [:]
        /// The response each vouch was checked with, and where it is kept.
        var vouched: [Vouch: (key: Key, response: [UInt8])] = [:]
    }

    /// 10,000 entries, a few MB at most.
    public static let defaultCapacity = 10_000

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = OCSPResponseCache.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    /// How many responses are kept now.
    public var count: Int { state.withLock { $0.entries.count } }

    /// How many certificates are vouched for by a checked response (some may have been replaced since).
    public var vouchedCount: Int { state.withLock { $0.vouched.count } }

    /// The kept response, if it has not reached its `nextUpdate` at `now`.
    func response(for key: Key, at now: Date) -> [UInt8]? {
        state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard entry.expires > now else {
                state.entries[key] = nil
                return nil
            }
            return entry.response
        }
    }

    /// Keeps `response` until `expires`; when full, drops the expired entries and then, if need be, the one that
    /// expires first.
    func store(_ response: [UInt8], for key: Key, until expires: Date, now: Date) {
        guard expires > now else { return }
        state.withLock { state in
            if state.entries[key] == nil, state.entries.count >= capacity {
                state.entries = state.entries.filter { $0.value.expires > now }
                if state.entries.count >= capacity,
                    let first = state.entries.min(by: { $0.value.expires < $1.value.expires })
                {
                    state.entries[first.key] = nil
                }
            }
            state.entries[key] = Entry(response: response, expires: expires)
        }
    }

    /// An OCSP check found `vouch`'s certificate good with `response`, which the cache gave, or kept, under `key`.
    /// Remembered only while that very response is kept there.
    func remember(_ vouch: Vouch, checkedWith response: [UInt8], keptAs key: Key, now: Date) {
        state.withLock { state in
            guard let entry = state.entries[key], entry.expires > now, entry.response == response else { return }
            if state.vouched[vouch] == nil, state.vouched.count >= capacity {
                state.vouched = state.vouched.filter { state.entries[$0.value.key]?.response == $0.value.response }
                if state.vouched.count >= capacity, let any = state.vouched.first { state.vouched[any.key] = nil }
            }
            state.vouched[vouch] = (key, response)
        }
    }

    /// Whether `vouch`'s certificate was found good with the response that is kept now, before its `nextUpdate`.
    func vouches(for vouch: Vouch, at now: Date) -> Bool {
        state.withLock { state in
            guard let (key, response) = state.vouched[vouch] else { return false }
            guard let entry = state.entries[key], entry.expires > now, entry.response == response else {
                state.vouched[vouch] = nil
                return false
            }
            return true
        }
    }
}
