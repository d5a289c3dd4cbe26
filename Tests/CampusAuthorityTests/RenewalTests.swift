import CampusPKI
import CampusSQLite
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import CampusAuthority

@Suite struct RenewalTests {
    static let root = try! RootAuthority.make()
    /// A root made two years ago, for certificates issued in the past.
    static let olderRoot = try! RootAuthority.make(now: Date().addingTimeInterval(-2 * 365 * 86_400))

    func issued(at time: Date = Date(), root: RootAuthority = root) async throws -> (CertificateAuthority, Certificate)
    {
        let authority = CertificateAuthority(root: root, registry: InMemoryAuthorityStore())
        let (_, certificate) = try await authority.issue(csrPEM: try makeCSR(key: TestKeys.student), now: time)
        return (authority, certificate)
    }

    func proof(digest: [UInt8] = channelDigest, csrPEM: String, key: _RSA.Signing.PrivateKey = TestKeys.student)
        throws -> [UInt8]
    {
        try RenewalProof.sign(transcriptDigest: digest, csrDER: try PEMDocument(pemString: csrPEM).derBytes, with: key)
    }

    /// The whole renewal as CUHK's handler runs it, for the channel `digest`.
    func renew(
        _ authority: CertificateAuthority, _ current: Certificate, csrPEM: String, digest: [UInt8] = channelDigest,
        signature: [UInt8]? = nil, now: Date = Date()
    ) async throws -> IssuedCertificate {
        let (checked, standing) = try await authority.certificateToRenew(
            pem: try current.serializeAsPEM().pemString, now: now)
        return try await authority.renew(
            checked, standing: standing, transcriptDigest: digest, csrPEM: csrPEM,
            signature: try signature ?? proof(digest: digest, csrPEM: csrPEM), now: now
        ).0
    }

    @Test func aValidCertificateRenewsAndTheOldOneIsSuperseded() async throws {
        let (authority, current) = try await issued()
        let csr = try makeCSR(key: TestKeys.other)
        let renewed = try await renew(authority, current, csrPEM: csr)
        #expect(try Certificate(pemEncoded: renewed.pem).publicKey == Certificate.PublicKey(TestKeys.other.publicKey))
        guard case .revoked(_, let revocation) = try await authority.registry.status(ofSerial: current.serialNumber.hex)
        else {
            Issue.record("the old certificate is not revoked")
            return
        }
        #expect(revocation.reason == .superseded)
        guard case .good = try await authority.registry.status(ofSerial: renewed.serial) else {
            Issue.record("the new certificate is not good")
            return
        }
        #expect(try await authority.registry.renewal(of: current.serialNumber.hex)?.serial == renewed.serial)
    }

    /// A renewal whose answer was lost (a killed Student, a cut connection) is asked again in a new channel with the
    /// same new key: CUHK answers with the certificate it recorded, instead of refusing. Another key is refused.
    @Test func aRenewalAskedAgainForTheSameKeyGetsTheSameCertificate() async throws {
        let (authority, current) = try await issued()
        let csr = try makeCSR(key: TestKeys.other)
        let first = try await renew(authority, current, csrPEM: csr, digest: Array(repeating: 1, count: 32))
        let again = try await renew(authority, current, csrPEM: csr, digest: Array(repeating: 2, count: 32))
        #expect(again.serial == first.serial)
        #expect(try await authority.registry.certificates(for: nil).count == 2)
        await #expect {
            _ = try await renew(authority, current, csrPEM: try makeCSR(key: TestKeys.third))
        } throws: { ($0 as? CampusError)?.code == .renewalDenied }
    }

    @Test func aProofForAnotherChannelOrByAnotherKeyFails() async throws {
        let (authority, current) = try await issued()
        let csr = try makeCSR(key: TestKeys.other)
        let relayed = try proof(digest: Array(repeating: 7, count: 32), csrPEM: csr)
        let byAnotherKey = try proof(csrPEM: csr, key: TestKeys.other)
        let forAnotherCSR = try proof(csrPEM: try makeCSR(key: TestKeys.student))
        for signature in [relayed, byAnotherKey, forAnotherCSR] {
            await #expect {
                _ = try await renew(authority, current, csrPEM: csr, signature: signature)
            } throws: { ($0 as? CampusError)?.code == .renewalProofFailed }
        }
        #expect(try await authority.registry.certificates(for: nil).count == 1)
    }

    @Test func theNewCSRMustNameTheSameStudent() async throws {
        let (authority, current) = try await issued()
        await #expect {
            _ = try await renew(authority, current, csrPEM: try makeCSR(cn: ["1155000000"], key: TestKeys.other))
        } throws: { ($0 as? CampusError)?.code == .renewalDenied }
    }

    @Test func aRevokedCertificateCannotRenew() async throws {
        let (authority, current) = try await issued()
        _ = try await authority.registry.revoke(serial: current.serialNumber.hex, reason: .keyCompromise, at: Date())
        await #expect {
            _ = try await authority.certificateToRenew(pem: try current.serializeAsPEM().pemString)
        } throws: { error in
            guard let error = error as? CampusError else { return false }
            return error.code == .renewalDenied && error.reason.contains("keyCompromise")
        }
    }

    /// PROTOCOL.md gives a renewal's certificate problems as `renewal-denied`; a certificate that cannot be read
    /// was answered `malformed-certificate` (201), a code of Blackboard's handshake.
    @Test func aMalformedCertificateIsARenewalDenied() async throws {
        let (authority, _) = try await issued()
        for text in ["not PEM", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
            await #expect {
                _ = try await authority.certificateToRenew(pem: text)
            } throws: { error in
                guard let error = error as? CampusError else { return false }
                return error.code == .renewalDenied && error.reason.contains("cannot be read")
            }
        }
    }

    /// An expired, unrevoked certificate renews for 30 days after it expired, as step-ca allows; later it needs a
    /// new code.
    @Test func anExpiredCertificateRenewsWithinTheGracePeriodOnly() async throws {
        let day: TimeInterval = 86_400
        let now = Date()
        let (authority, expired) = try await issued(at: now.addingTimeInterval(-366 * day), root: Self.olderRoot)
        #expect(expired.notValidAfter < now)
        let renewed = try await renew(authority, expired, csrPEM: try makeCSR(key: TestKeys.other), now: now)
        #expect(try Certificate(pemEncoded: renewed.pem).notValidAfter > now)

        let (late, tooOld) = try await issued(
            at: now.addingTimeInterval(-(365 + Double(EnrollmentChannel.renewalGraceDays) + 1) * day),
            root: Self.olderRoot)
        await #expect {
            _ = try await late.certificateToRenew(pem: try tooOld.serializeAsPEM().pemString, now: now)
        } throws: { error in
            guard let error = error as? CampusError else { return false }
            return error.code == .renewalDenied && error.reason.contains("more than 30 days ago")
        }
    }
}

@Suite struct ServiceCertificateTests {
    @Test func blackboardsCertificateHasTheServiceProfileAndCannotActAsAStudent() async throws {
        let directory = try temporaryDirectory()
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        let root = RenewalTests.root
        let service = try await ServiceCertificate.issue(name: "blackboard", root: root, recordingIn: registry)
        let certificate = service.certificate
        #expect(certificate.subject.commonNames == ["blackboard"])
        #expect(try certificate.extensions.subjectAlternativeNames.map(Array.init) == [.dnsName("blackboard")])
        #expect(try certificate.extensions.extendedKeyUsage.map(Array.init) == [.serverAuth])
        #expect(try certificate.extensions.keyUsage == KeyUsage(digitalSignature: true))
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(certificate.publicKey == Certificate.PublicKey(service.privateKey.publicKey))
        #expect(root.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))

        try service.write(name: "blackboard", to: directory)
        #expect(SecureFile.mode(of: SecureFile.join(directory, "blackboard.key")) == 0o600)
        #expect(throws: FileError.self) { try service.write(name: "blackboard", to: directory) }

        // Presented as a student's cert 2, Blackboard refuses it.
        await #expect(throws: CampusError.self) {
            _ = try await StudentCertificateVerifier(root: root.certificate)
                .verify(certificatePEM: try certificate.serializeAsPEM().pemString, for: StudentID("1155123456")!)
        }
        // Presented as CUHK's in an enrollment offer, the Student refuses it: it is for another name.
        await #expect {
            _ = try await AuthorityCertificateVerifier(root: root.certificate)
                .verify(certificatePEM: try certificate.serializeAsPEM().pemString)
        } throws: { ($0 as? AuthorityAuthenticationError)?.check == .name }
        #expect(ServiceCertificate.isValidName("blackboard.cuhk.edu.hk"))
        #expect(!ServiceCertificate.isValidName("bad name") && !ServiceCertificate.isValidName("-x"))
    }

    /// Channels that ask at once, before CUHK has an enrollment certificate, share the one made for the first: one is
    /// recorded, and the later ones read it without going through the actor.
    @Test func channelsAskingAtOnceShareOneEnrollmentCertificate() async throws {
        let directory = try temporaryDirectory()
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        let identity = AuthorityIdentity(root: RenewalTests.root, registry: registry)
        let certificates = try await withThrowingTaskGroup(of: Certificate.self) { group in
            for _ in 0..<8 { group.addTask { try await identity.credentials().certificate } }
            return try await group.reduce(into: [Certificate]()) { $0.append($1) }
        }
        #expect(certificates.count == 8 && certificates.allSatisfy { $0 == certificates[0] })
        #expect(try await identity.credentials().certificate == certificates[0])
        #expect(try await registry.serviceCertificates().map(\.name) == ["cuhk"])
    }

    /// CUHK's own enrollment certificate: issued to itself, recorded with the services', the service profile for
    /// the name `cuhk`, accepted by the Student's check; neither a student's certificate nor Blackboard's passes it.
    @Test func cuhksEnrollmentCertificateIsIssuedToItselfAndRotated() async throws {
        let directory = try temporaryDirectory()
        let registry = try SQLiteAuthorityStore(path: SecureFile.join(directory, "cuhk.db"))
        let clock = TestClock(Date())
        let identity = AuthorityIdentity(root: RenewalTests.root, registry: registry, now: { clock.now })
        let first = try await identity.credentials()
        #expect(try await identity.credentials().certificate == first.certificate)
        let (verified, _) = try await AuthorityCertificateVerifier(root: RenewalTests.root.certificate)
            .verify(certificatePEM: first.certificatePEM)
        #expect(verified == first.certificate)
        #expect(try first.certificate.extensions.subjectAlternativeNames.map(Array.init) == [.dnsName("cuhk")])
        #expect(try await registry.serviceCertificates().map(\.name) == ["cuhk"])
        // Past half its validity, the next channel gets a new one.
        clock.advance(Double(AuthorityIdentity.validityDays) * 86_400 / 2 + 1)
        let second = try await identity.credentials()
        #expect(second.certificate != first.certificate)
        #expect(try await registry.serviceCertificates().count == 2)

        let (student, _) = try await CertificateAuthority(root: RenewalTests.root, registry: registry).issue(
            csrPEM: try makeCSR())
        await #expect {
            _ = try await AuthorityCertificateVerifier(root: RenewalTests.root.certificate).verify(
                certificatePEM: student.pem)
        } throws: { ($0 as? AuthorityAuthenticationError)?.check == .serverAuth }
    }
}
