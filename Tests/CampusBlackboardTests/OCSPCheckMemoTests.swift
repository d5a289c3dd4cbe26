import CampusPKI
import Foundation
import Testing
import X509

@testable import CampusBlackboard

/// The memo vouches only for the very response an OCSP check accepted, while it is kept and before its
/// `nextUpdate`: a changed, dropped or expired response is checked again.
@Suite struct OCSPCheckMemoTests {
    let key = OCSPResponseCache.Key(url: "http://cuhk.example.edu:9336/", certificateID: [1, 2, 3])
    let good: [UInt8] = Array(repeating: 0xA1, count: 40)
    let other: [UInt8] = Array(repeating: 0xB2, count: 40)

    let rootSerial = Certificate.SerialNumber()

    func vouch() -> OCSPResponseCache.Vouch {
        OCSPResponseCache.Vouch(serial: Certificate.SerialNumber(), issuerSerial: rootSerial)
    }

    @Test func vouchesForTheCheckedResponseWhileItIsKept() throws {
        let cache = OCSPResponseCache()
        let vouch = vouch()
        let now = Date()
        // Nothing kept: nothing remembered.
        cache.remember(vouch, checkedWith: good, keptAs: key, now: now)
        #expect(!cache.vouches(for: vouch, at: now))

        cache.store(good, for: key, until: now.addingTimeInterval(3600), now: now)
        // A response other than the kept one was checked: not remembered.
        cache.remember(vouch, checkedWith: other, keptAs: key, now: now)
        #expect(!cache.vouches(for: vouch, at: now))

        cache.remember(vouch, checkedWith: good, keptAs: key, now: now)
        #expect(cache.vouches(for: vouch, at: now.addingTimeInterval(3599)))
        // Another certificate, or the same serial under another root, is not vouched for.
        #expect(!cache.vouches(for: self.vouch(), at: now))
        #expect(!cache.vouches(for: .init(serial: vouch.serial, issuerSerial: Certificate.SerialNumber()), at: now))
        // At the response's nextUpdate the vouch ends with it.
        #expect(!cache.vouches(for: vouch, at: now.addingTimeInterval(3600)))
    }

    @Test func aReplacedResponseEndsTheVouch() throws {
        let cache = OCSPResponseCache()
        let vouch = vouch()
        let now = Date()
        cache.store(good, for: key, until: now.addingTimeInterval(3600), now: now)
        cache.remember(vouch, checkedWith: good, keptAs: key, now: now)
        #expect(cache.vouches(for: vouch, at: now))
        // A newer answer (it may say revoked) replaces the checked one: it must be checked itself.
        cache.store(other, for: key, until: now.addingTimeInterval(7200), now: now)
        #expect(!cache.vouches(for: vouch, at: now))
        // Even once the first response is kept again, the vouch is gone until a check remembers it anew.
        cache.store(good, for: key, until: now.addingTimeInterval(3600), now: now)
        #expect(!cache.vouches(for: vouch, at: now))
        #expect(cache.vouchedCount == 0)
    }

    @Test func aCheckRemembersOnlyWhenItsRequesterGaveExactlyOneKeptResponse() throws {
        let cache = OCSPResponseCache()
        let now = Date()
        cache.store(good, for: key, until: now.addingTimeInterval(3600), now: now)
        let served = OCSPCheckMemo.Served()
        #expect(served.only == nil)
        served.add(key, good)
        #expect(served.only?.response == good)
        served.add(key, other)
        #expect(served.only == nil)
    }

    @Test func theVouchesAreBounded() throws {
        let cache = OCSPResponseCache(capacity: 3)
        let now = Date()
        cache.store(good, for: key, until: now.addingTimeInterval(3600), now: now)
        var vouches: [OCSPResponseCache.Vouch] = []
        for _ in 0..<5 {
            let vouch = vouch()
            vouches.append(vouch)
            cache.remember(vouch, checkedWith: good, keptAs: key, now: now)
        }
        #expect(cache.vouchedCount == 3)
        #expect(cache.vouches(for: vouches[4], at: now))
    }
}
