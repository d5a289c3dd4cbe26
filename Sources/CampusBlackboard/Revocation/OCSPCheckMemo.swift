import CampusPKI
import Foundation
import Synchronization
import X509

/// Blackboard's ``OCSPStatusMemo`` for one verification of cert 2: it vouches for a certificate that an earlier
/// check found good with the response the ``OCSPResponseCache`` keeps now, and after a check that passed it
/// remembers the response this verification's requester gave.
///
/// Vouching skips only the parsing and the signature check of a response already checked; a response that changed,
/// was dropped or reached its `nextUpdate` is asked for and checked as before, and the revocation list is asked
/// first either way.
struct OCSPCheckMemo: OCSPStatusMemo {
    /// The kept responses one requester gave, with their keys in the cache.
    final class Served: Sendable {
        private let answers = Mutex<[(key: OCSPResponseCache.Key, response: [UInt8])]>([])

        func add(_ key: OCSPResponseCache.Key, _ response: [UInt8]) {
            answers.withLock { $0.append((key, response)) }
        }

        /// The one response given, or `nil` when none or several were.
        var only: (key: OCSPResponseCache.Key, response: [UInt8])? {
            answers.withLock { $0.count == 1 ? $0[0] : nil }
        }
    }

    let cache: OCSPResponseCache
    let served: Served

    func vouches(for chain: UnverifiedCertificateChain) -> Bool {
        guard let vouch = Self.vouch(for: chain) else { return false }
        return cache.vouches(for: vouch, at: Date())
    }

    func checked(_ chain: UnverifiedCertificateChain) {
        guard let vouch = Self.vouch(for: chain), let (key, response) = served.only else { return }
        cache.remember(vouch, checkedWith: response, keptAs: key, now: Date())
    }

    /// The leaf's serial and its root's: cert 2 and the root, the only chain Blackboard accepts.
    static func vouch(for chain: UnverifiedCertificateChain) -> OCSPResponseCache.Vouch? {
        guard chain.count == 2, let issuer = chain.last else { return nil }
        return OCSPResponseCache.Vouch(serial: chain.leaf.serialNumber, issuerSerial: issuer.serialNumber)
    }
}
