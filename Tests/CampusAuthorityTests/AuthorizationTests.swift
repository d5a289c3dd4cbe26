import CampusPKI
import CampusSQLite
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import CampusAuthority

/// Certificates remember what authorized them, and under a roster only those that trace back to an enrollment code
/// count: one taken for a student's ID while enrollment was open makes nobody enrolled and cannot renew without a
/// code.
@Suite struct AuthorizationTests {
    static let root = try! RootAuthority.make()
    let victim = StudentID("1155123456")!
    let other = StudentID("1155000002")!

    func registry() throws -> SQLiteAuthorityStore {
        try SQLiteAuthorityStore(path: SecureFile.join(try temporaryDirectory(), "cuhk.db"))
    }

    func authority(_ registry: SQLiteAuthorityStore, _ enrollment: EnrollmentPolicy) -> CertificateAuthority {
        CertificateAuthority(root: Self.root, registry: registry, enrollment: enrollment, roster: registry)
    }

    @Test func anOpenEnrollmentCertificateDoesNotCountAsEnrolledUnderARoster() async throws {
        let registry = try registry()
        // While enrollment is open, someone takes a certificate for the victim's ID.
        let (taken, takenCertificate) = try await authority(registry, .open).issue(
            csrPEM: try makeCSR(cn: [victim.rawValue], key: TestKeys.other))
        #expect(taken.authorization == .openEnrollment)
        // Then the course switches to its roster; the other student enrolls with a code.
        _ = try await registry.importRoster([
            RosterEntry(studentID: victim, name: "Victim"), RosterEntry(studentID: other, name: "Other"),
        ])
        let code = EnrollmentCode.random()
        #expect(try await registry.storeCode(code, for: other, issuedAt: Date(), expiresAt: Date() + 3600))
        let roster = authority(registry, .standard)
        let paidCSR = try makeCSR(cn: [other.rawValue], key: TestKeys.student)
        let (paid, _) = try await roster.issue(
            csrPEM: paidCSR, proof: try codeProof(code, csrPEM: paidCSR), transcriptDigest: channelDigest)
        #expect(paid.authorization == .enrollmentCode && paid.isRosterAuthorized)

        let standings = Dictionary(
            try await StudentStanding.all(in: registry).map { ($0.entry.studentID, $0) }, uniquingKeysWith: { $1 })
        #expect(standings[victim]?.certificate == nil)
        #expect(standings[victim]?.enrollment == "not enrolled")
        #expect(standings[victim]?.certificatesNotFromRoster.map(\.serial) == [taken.serial])
        #expect(standings[other]?.certificate?.serial == paid.serial)
        #expect(try await registry.certificatesNotFromRoster().map(\.serial) == [taken.serial])

        // `codes issue --all-unenrolled` does not skip the victim.
        let issued = try await EnrollmentCodes.issue(to: .allUnenrolled, in: registry)
        #expect(issued.map(\.entry.studentID) == [victim])

        // The holder cannot renew without a code, and is told so.
        await #expect {
            _ = try await roster.certificateToRenew(pem: try takenCertificate.serializeAsPEM().pemString)
        } throws: { error in
            guard let error = error as? CampusError else { return false }
            return error.code == .renewalDenied && error.reason.contains("open enrollment")
                && error.reason.contains("needs a code")
        }

        // `cuhk revoke --open-enrollment` revokes exactly that one.
        let revoked = try await registry.revokeAllNotFromRoster(reason: .cessationOfOperation, at: Date())
        #expect(revoked.map(\.serial) == [taken.serial])
        #expect(try await registry.certificatesNotFromRoster().isEmpty)
        guard case .good = try await registry.status(ofSerial: paid.serial) else {
            Issue.record("the roster student's certificate was revoked too")
            return
        }
    }

    @Test func aRenewalInheritsTheStandingOfTheCertificateItRenews() async throws {
        let registry = try registry()
        _ = try await registry.importRoster([RosterEntry(studentID: victim, name: "Victim")])
        let code = EnrollmentCode.random()
        #expect(try await registry.storeCode(code, for: victim, issuedAt: Date(), expiresAt: Date() + 3600))
        let roster = authority(registry, .standard)
        let firstCSR = try makeCSR(key: TestKeys.student)
        let (_, current) = try await roster.issue(
            csrPEM: firstCSR, proof: try codeProof(code, csrPEM: firstCSR), transcriptDigest: channelDigest)
        let (checked, standing) = try await roster.certificateToRenew(pem: try current.serializeAsPEM().pemString)
        let csr = try makeCSR(key: TestKeys.other)
        let signature = try RenewalProof.sign(
            transcriptDigest: channelDigest, csrDER: try PEMDocument(pemString: csr).derBytes, with: TestKeys.student)
        let (renewed, _) = try await roster.renew(
            checked, standing: standing, transcriptDigest: channelDigest, csrPEM: csr, signature: signature)
        #expect(renewed.authorization == .renewal(of: current.serialNumber.hex))
        let stored = try #require(try await registry.certificates(for: victim).first { $0.serial == renewed.serial })
        #expect(stored.isRosterAuthorized)
        #expect(try await StudentStanding.all(in: registry).first?.certificate?.serial == renewed.serial)

        // Under open enrollment a renewal of an open certificate is allowed, and stays outside the roster.
        let open = InMemoryAuthorityStore()
        let openAuthority = CertificateAuthority(root: Self.root, registry: open)
        let (_, openCertificate) = try await openAuthority.issue(csrPEM: try makeCSR(key: TestKeys.student))
        let (openChecked, openStanding) = try await openAuthority.certificateToRenew(
            pem: try openCertificate.serializeAsPEM().pemString)
        let (openRenewed, _) = try await openAuthority.renew(
            openChecked, standing: openStanding, transcriptDigest: channelDigest, csrPEM: csr, signature: signature)
        let openStored = try #require(try await open.certificates(for: nil).first { $0.serial == openRenewed.serial })
        #expect(openStored.authorization == .renewal(of: openCertificate.serialNumber.hex))
        #expect(!openStored.isRosterAuthorized)
    }
}
