import CampusAdmin
import CampusAuthority
import CampusPKI
import Crypto
import Foundation
import Testing
import X509

/// Every engine of CUHK's store does the same: each primitive, and the races several CUHK instances on one database
/// run into (a code raced by eight requests over two stores, a renewal raced, a throttle counted across stores, a
/// revocation seen at once by another store).
@Suite(.serialized) struct AuthorityStoreConformanceTests {
    static let sid = StudentID("1155123456")!
    static let other = StudentID("1155000001")!
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func certificate(
        _ serial: String, _ studentID: StudentID = sid, issuedAt: Date = now,
        authorization: CertificateAuthorization = .openEnrollment
    ) -> IssuedCertificate {
        IssuedCertificate(
            serial: serial, studentID: studentID, notValidBefore: issuedAt, notValidAfter: issuedAt + 86_400 * 365,
            pem: "-----BEGIN CERTIFICATE-----\n\(serial)\n-----END CERTIFICATE-----\n", issuedAt: issuedAt,
            authorization: authorization)
    }

    @Test(arguments: Backend.all)
    func certificatesAreRecordedListedRevokedAndRefusedTwice(_ backend: Backend) async throws {
        try await backend.withAuthorityStores { stores in
            let store = stores[0]
            try await store.record(Self.certificate("0a", issuedAt: Self.now))
            try await store.record(Self.certificate("0b", Self.other, issuedAt: Self.now + 1))
            await #expect(throws: RegistryError.duplicateSerial("0a")) {
                try await store.record(Self.certificate("0a"))
            }
            #expect(try await store.certificates(for: nil).map(\.serial) == ["0a", "0b"])
            #expect(try await store.certificates(for: Self.other).map(\.serial) == ["0b"])
            let stored = try #require(try await store.certificates(for: Self.sid).first)
            #expect(stored.pem == Self.certificate("0a").pem)
            #expect(stored.authorization == .openEnrollment)
            #expect(stored.notValidAfter == Self.now + 86_400 * 365)
            guard case .good(let good) = try await store.status(ofSerial: "0A") else {
                Issue.record("0a is not good")
                return
            }
            #expect(good.serial == "0a")
            #expect(try await store.status(ofSerial: "ff") == .unknown)

            let revoked = try await store.revoke(serial: "0a", reason: .keyCompromise, at: Self.now + 10)
            #expect(revoked.revocation == Revocation(time: Self.now + 10, reason: .keyCompromise))
            await #expect(throws: RegistryError.alreadyRevoked("0a")) {
                try await store.revoke(serial: "0a", reason: .keyCompromise, at: Self.now + 11)
            }
            await #expect(throws: RegistryError.unknownSerial("ff")) {
                try await store.revoke(serial: "ff", reason: .keyCompromise, at: Self.now)
            }
            #expect(
                try await store.revokedSerials()
                    == [
                        RevokedSerial(serial: "0a", revocation: Revocation(time: Self.now + 10, reason: .keyCompromise))
                    ])
            let all = try await store.revokeAll(of: Self.other, reason: .cessationOfOperation, at: Self.now + 20)
            #expect(all.map(\.serial) == ["0b"])
            #expect(try await store.revokeAll(of: Self.other, reason: .cessationOfOperation, at: Self.now + 21).isEmpty)
            #expect(try await store.revokedSerials().map(\.serial) == ["0a", "0b"])
        }
    }

    /// A revocation committed through one store is what another store over the same database answers next: no cache
    /// on CUHK's side.
    @Test(arguments: Backend.shared)
    func aRevocationIsSeenAtOnceByAnotherStore(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            try await stores[0].record(Self.certificate("1c"))
            guard case .good = try await stores[1].status(ofSerial: "1c") else {
                Issue.record("the other store does not know 1c")
                return
            }
            _ = try await stores[0].revoke(serial: "1c", reason: .keyCompromise, at: Self.now + 5)
            guard case .revoked(_, let revocation) = try await stores[1].status(ofSerial: "1c") else {
                Issue.record("the other store does not see the revocation")
                return
            }
            #expect(revocation.reason == .keyCompromise)
            #expect(try await stores[1].revokedSerials().map(\.serial) == ["1c"])
        }
    }

    @Test(arguments: Backend.all)
    func aRenewalSupersedesOnceAndInheritsTheStanding(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            _ = try await stores[0].importRoster([RosterEntry(studentID: Self.sid, name: "Chan Tai Man")])
            let code = EnrollmentCode.random()
            #expect(try await stores[0].storeCode(code, for: Self.sid, issuedAt: Self.now, expiresAt: Self.now + 600))
            try await stores[0].record(
                Self.certificate("a1", authorization: .enrollmentCode), consumingCode: code.hash, at: Self.now + 1)
            // Two renewals of a1 race, one through each store: one is recorded, the other refused.
            let outcomes = await concurrently(2) { index in
                do {
                    try await stores[index].record(
                        Self.certificate("b\(index)", issuedAt: Self.now + 2, authorization: .renewal(of: "a1")),
                        superseding: "a1", at: Self.now + 2)
                    return "recorded"
                } catch let error as RegistryError {
                    return error == .alreadyRevoked("a1") ? "refused" : "\(error)"
                } catch {
                    return "\(error)"
                }
            }
            #expect(outcomes.sorted() == ["recorded", "refused"])
            let winner = outcomes[0] == "recorded" ? "b0" : "b1"
            let renewal = try #require(try await stores[1].renewal(of: "a1"))
            #expect(renewal.serial == winner)
            #expect(renewal.isRosterAuthorized)
            #expect(renewal.authorization == .renewal(of: "a1"))
            guard case .revoked(_, let revocation) = try await stores[1].status(ofSerial: "a1") else {
                Issue.record("a1 is not superseded")
                return
            }
            #expect(revocation == Revocation(time: Self.now + 2, reason: .superseded))
            #expect(try await stores[1].certificates(for: Self.sid).map(\.serial) == ["a1", winner])
            #expect(try await stores[1].renewal(of: winner) == nil)
        }
    }

    @Test(arguments: Backend.all)
    func theRosterAndItsCodes(_ backend: Backend) async throws {
        try await backend.withAuthorityStores { stores in
            let store = stores[0]
            let first = try await store.importRoster([
                RosterEntry(studentID: Self.sid, name: "Chan Tai Man", email: "chan@example.com"),
                RosterEntry(studentID: Self.other, name: "Ada"),
            ])
            #expect(first == (added: 2, updated: 0))
            let second = try await store.importRoster([
                RosterEntry(studentID: Self.other, name: "Ada Lovelace", email: "ada@example.com")
            ])
            #expect(second == (added: 0, updated: 1))
            #expect(
                try await store.rosterEntries() == [
                    RosterEntry(studentID: Self.other, name: "Ada Lovelace", email: "ada@example.com"),
                    RosterEntry(studentID: Self.sid, name: "Chan Tai Man", email: "chan@example.com"),
                ])
            #expect(try await store.rosterCount() == 2)

            let stranger = StudentID("1155999999")!
            #expect(
                try await !store.storeCode(.random(), for: stranger, issuedAt: Self.now, expiresAt: Self.now + 60))
            let old = EnrollmentCode.random()
            let code = EnrollmentCode.random()
            #expect(try await store.storeCode(old, for: Self.sid, issuedAt: Self.now, expiresAt: Self.now + 60))
            #expect(try await store.storeCode(code, for: Self.sid, issuedAt: Self.now + 1, expiresAt: Self.now + 600))
            let record = try #require(try await store.code(for: Self.sid))
            #expect(record.hash == code.hash)
            #expect(record.issuedAt == Self.now + 1 && record.expiresAt == Self.now + 600 && record.usedAt == nil)
            #expect(try await store.code(for: Self.other) == nil)
            #expect(try await store.codes().map(\.studentID) == [Self.sid.rawValue])

            // The replaced code pays for nothing; the current one pays for one certificate, revoking earlier ones.
            try await store.record(Self.certificate("e0", issuedAt: Self.now))
            await #expect(throws: RegistryError.codeAlreadyUsed) {
                try await store.record(
                    Self.certificate("e1", authorization: .enrollmentCode), consumingCode: old.hash, at: Self.now + 2)
            }
            try await store.record(
                Self.certificate("e2", issuedAt: Self.now + 2, authorization: .enrollmentCode),
                consumingCode: code.hash,
                at: Self.now + 2)
            let used = try #require(try await store.code(for: Self.sid))
            #expect(used.usedAt == Self.now + 2 && used.certificateSerial == "e2")
            #expect(try await store.certificates(for: Self.sid).map(\.serial) == ["e0", "e2"])
            guard case .revoked(_, let revocation) = try await store.status(ofSerial: "e0") else {
                Issue.record("the certificate before the code is not superseded")
                return
            }
            #expect(revocation.reason == .superseded)
            #expect(try await store.certificates(for: Self.sid).last?.isRosterAuthorized == true)

            #expect(try await store.removeFromRoster(Self.sid))
            #expect(try await !store.removeFromRoster(Self.sid))
            #expect(try await store.code(for: Self.sid) == nil)
            #expect(try await store.rosterEntries().map(\.studentID) == [Self.other])
        }
    }

    /// Eight requests with one code, four through each of two stores at once: exactly one certificate.
    @Test(arguments: Backend.shared)
    func oneCodeRacedByEightRequestsOverTwoStoresPaysForOneCertificate(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            _ = try await stores[0].importRoster([RosterEntry(studentID: Self.sid, name: "Chan Tai Man")])
            let code = EnrollmentCode.random()
            #expect(try await stores[1].storeCode(code, for: Self.sid, issuedAt: Self.now, expiresAt: Self.now + 600))
            let outcomes = await concurrently(8) { index in
                do {
                    try await stores[index % 2].record(
                        Self.certificate(String(format: "c%02x", index), authorization: .enrollmentCode),
                        consumingCode: code.hash, at: Self.now + 1)
                    return "issued"
                } catch let error as RegistryError where error == .codeAlreadyUsed {
                    return "refused"
                } catch {
                    return "\(error)"
                }
            }
            #expect(outcomes.filter { $0 == "issued" }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { $0 == "refused" }.count == 7, "\(outcomes)")
            let issued = try await stores[0].certificates(for: Self.sid)
            #expect(issued.count == 1)
            #expect(issued.first?.revocation == nil)
            #expect(try await stores[1].code(for: Self.sid)?.certificateSerial == issued.first?.serial)
        }
    }

    @Test(arguments: Backend.all)
    func anExpiredCodePaysForNothing(_ backend: Backend) async throws {
        try await backend.withAuthorityStores { stores in
            _ = try await stores[0].importRoster([RosterEntry(studentID: Self.sid, name: "Chan Tai Man")])
            let code = EnrollmentCode.random()
            _ = try await stores[0].storeCode(code, for: Self.sid, issuedAt: Self.now, expiresAt: Self.now + 60)
            await #expect(throws: RegistryError.codeAlreadyUsed) {
                try await stores[0].record(
                    Self.certificate("d1", authorization: .enrollmentCode), consumingCode: code.hash, at: Self.now + 61)
            }
            #expect(try await stores[0].certificates(for: nil).isEmpty)
            #expect(try await stores[0].code(for: Self.sid)?.usedAt == nil)
        }
    }

    @Test(arguments: Backend.all)
    func certificatesNotFromTheRosterAreFoundAndRevokedTogether(_ backend: Backend) async throws {
        try await backend.withAuthorityStores { stores in
            let store = stores[0]
            _ = try await store.importRoster([RosterEntry(studentID: Self.sid, name: "Chan Tai Man")])
            try await store.record(Self.certificate("f1", Self.sid, authorization: .openEnrollment))
            try await store.record(Self.certificate("f2", Self.other, authorization: .openEnrollment))
            #expect(try await store.certificatesNotFromRoster(onRosterAt: Self.now).map(\.serial) == ["f1"])
            #expect(try await store.certificatesNotFromRoster(onRosterAt: Self.now + 86_400 * 400).isEmpty)
            let revoked = try await store.revokeAllNotFromRoster(reason: .cessationOfOperation, at: Self.now + 3)
            #expect(Set(revoked.map(\.serial)) == ["f1", "f2"])
            #expect(try await store.certificatesNotFromRoster(onRosterAt: Self.now).isEmpty)
            #expect(try await store.revokeAllNotFromRoster(reason: .cessationOfOperation, at: Self.now + 4).isEmpty)
        }
    }

    /// Wrong codes from one address, through two stores, count against one budget.
    @Test(arguments: Backend.shared)
    func theThrottleCountsWrongCodesFromEveryStore(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            let address = SourceAddress("203.0.113.7")!
            let budget = EnrollmentThrottle.Configuration(attempts: 4, duration: 600)
            let outcomes = await concurrently(4) { index in
                try? await stores[index % 2].recordFailure(from: address, at: Self.now, budget: budget)
            }
            #expect(outcomes.allSatisfy { $0 == nil }, "four wrong codes are within a budget of four")
            let until = try await stores[1].recordFailure(from: address, at: Self.now, budget: budget)
            #expect(until == Self.now + 600)
            #expect(try await stores[0].throttledUntil(address, at: Self.now + 1) == Self.now + 600)
            #expect(
                try await stores[0].recordFailure(from: address, at: Self.now + 2, budget: budget) == Self.now + 600)
            let listed = try await stores[0].throttledAddresses(at: Self.now + 1)
            #expect(listed == [ThrottledAddress(address: address, since: Self.now, until: Self.now + 600)])
            #expect(try await stores[1].throttledAddresses(at: Self.now + 601).isEmpty)
            #expect(try await stores[1].throttledUntil(address, at: Self.now + 601) == nil)
            // Another address has its own budget.
            let another = SourceAddress("2001:db8::1")!
            #expect(try await stores[0].recordFailure(from: another, at: Self.now, budget: budget) == nil)
            // Cleared, the address starts afresh.
            #expect(try await stores[1].clearThrottle(address) == 1)
            #expect(try await stores[0].throttledUntil(address, at: Self.now + 1) == nil)
            #expect(try await stores[0].recordFailure(from: address, at: Self.now + 3, budget: budget) == nil)
        }
    }

    @Test(arguments: Backend.all)
    func theThrottleListKeepsTheNewestAndClearsAll(_ backend: Backend) async throws {
        try await backend.withAuthorityStores { stores in
            let store = stores[0]
            for index in 1...4 {
                try await store.recordThrottle(
                    ThrottledAddress(
                        address: SourceAddress("198.51.100.\(index)")!, since: Self.now + Double(index),
                        until: Self.now + 600),
                    at: Self.now + Double(index), keepingAtMost: 3)
            }
            let listed = try await store.throttledAddresses(at: Self.now + 10)
            #expect(listed.map(\.address.description) == ["198.51.100.2", "198.51.100.3", "198.51.100.4"])
            #expect(try await store.clearThrottle(nil) == 3)
            #expect(try await store.throttledAddresses(at: Self.now + 10).isEmpty)
        }
    }

    @Test(arguments: Backend.all)
    func serviceCertificatesAreRecordedAndRevokedByNameOrSerial(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            let store = stores[0]
            for (serial, name, offset) in [("5a", "blackboard", 0.0), ("5b", "blackboard", 1), ("5c", "cuhk-tsa", 2)] {
                try await store.recordServiceCertificate(
                    name: name, serial: serial, notValidBefore: Self.now, notValidAfter: Self.now + 86_400,
                    pem: "pem", issuedAt: Self.now + offset)
            }
            await #expect(throws: RegistryError.duplicateSerial("5a")) {
                try await store.recordServiceCertificate(
                    name: "x", serial: "5a", notValidBefore: Self.now, notValidAfter: Self.now, pem: "",
                    issuedAt: Self.now)
            }
            #expect(try await stores[1].serviceCertificates().map(\.serial) == ["5a", "5b", "5c"])
            guard case .good(let good) = try await stores[1].serviceCertificateStatus(ofSerial: "5C") else {
                Issue.record("5c is not good")
                return
            }
            #expect(good.name == "cuhk-tsa" && good.notValidAfter == Self.now + 86_400)
            #expect(try await stores[1].serviceCertificateStatus(ofSerial: "0a") == .unknown)

            let byName = try await store.revokeServiceCertificates(
                serial: nil, name: "blackboard", reason: .superseded, at: Self.now + 5)
            #expect(byName.map(\.serial) == ["5a", "5b"])
            guard case .revoked(_, let revocation) = try await stores[1].serviceCertificateStatus(ofSerial: "5b") else {
                Issue.record("5b is not revoked")
                return
            }
            #expect(revocation == Revocation(time: Self.now + 5, reason: .superseded))
            await #expect(throws: RegistryError.alreadyRevoked("5a")) {
                try await store.revokeServiceCertificates(serial: "5a", name: nil, reason: .superseded, at: Self.now)
            }
            await #expect(throws: RegistryError.unknownSerial("99")) {
                try await store.revokeServiceCertificates(serial: "99", name: nil, reason: .superseded, at: Self.now)
            }
            let bySerial = try await store.revokeServiceCertificates(
                serial: "5c", name: nil, reason: .keyCompromise, at: Self.now + 6)
            #expect(bySerial.map(\.serial) == ["5c"])
            // A student's certificate with a service's serial is not a service certificate.
            #expect(try await store.status(ofSerial: "5c") == .unknown)
        }
    }

    @Test(arguments: Backend.all)
    func timestampsAndTheirAuthoritiesCertificates(_ backend: Backend) async throws {
        try await backend.withAuthorityStores { stores in
            let store = stores[0]
            #expect(try await store.timestampCount() == 0)
            for index in 1...3 {
                try await store.recordTimestamp(
                    TimestampRecord(
                        serial: "7\(index)", generationTime: Self.now + Double(index) + 0.125, hashAlgorithm: .sha256,
                        imprint: Array(repeating: UInt8(index), count: 32), authoritySerial: "5c"))
            }
            #expect(try await store.timestampCount() == 3)
            #expect(try await store.timestampRecords(limit: 2).map(\.serial) == ["71", "72"])
            let records = try await store.timestampRecords(limit: 10)
            #expect(records.map(\.serial) == ["71", "72", "73"])
            #expect(records.last?.generationTime == Self.now + 3.125)
            #expect(records.last?.imprint == Array(repeating: 3, count: 32))
            #expect(records.last?.hashAlgorithm == .sha256 && records.last?.authoritySerial == "5c")
            await #expect(throws: RegistryError.duplicateSerial("71")) {
                try await store.recordTimestamp(records[0])
            }

            let certificate = try Self.selfSigned("CampusPKI TSA")
            try await store.recordTimestampAuthorityCertificate(certificate, issuedAt: Self.now)
            #expect(try await store.timestampAuthorityCertificates() == [certificate])
        }
    }

    @Test(arguments: Backend.all)
    func settingsAndTheWriteProbe(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            #expect(try await stores[0].setting("responder-url") == nil)
            try await stores[0].recordSetting("responder-url", "http://a")
            try await stores[0].recordSetting("responder-url", "http://b")
            #expect(try await stores[1].setting("responder-url") == "http://b")
            try await stores[1].recordEnrollmentPolicy(.open)
            #expect(try await stores[0].lastStartedOpen())
            try await stores[0].probeWrite()
            try await stores[1].probeWrite(at: Self.now)
            #expect(!stores[0].location.isEmpty)
        }
    }

    /// A login through one instance is valid on the others, until it expires or is ended.
    @Test(arguments: Backend.shared)
    func webSessionsAreSharedByEveryStore(_ backend: Backend) async throws {
        try await backend.withAuthorityStores(2) { stores in
            try await adminSessionsAreShared(stores[0], stores[1])
        }
    }

    static func selfSigned(_ commonName: String) throws -> Certificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now, notValidAfter: now + 86_400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(), issuerPrivateKey: .init(key))
    }
}

/// What every store's web sessions do, one store writing and the other reading.
func adminSessionsAreShared(_ first: any AdminSessionStore, _ second: any AdminSessionStore) async throws {
    let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded())
    let session = AdminSessionRecord(key: "k1", csrfToken: "csrf-1", expires: now + 3600)
    try await first.recordAdminSession(session)
    try await first.recordAdminSession(AdminSessionRecord(key: "k2", csrfToken: "csrf-2", expires: now + 3600))
    #expect(try await second.adminSession(key: "k1", at: now) == session)
    #expect(try await second.adminSession(key: "k1", at: now + 3601) == nil)
    #expect(try await second.adminSession(key: "nope", at: now) == nil)
    try await second.removeAdminSession(key: "k1")
    #expect(try await first.adminSession(key: "k1", at: now) == nil)
    #expect(try await second.removeAllAdminSessions() == 1)
    #expect(try await first.adminSession(key: "k2", at: now) == nil)
}
