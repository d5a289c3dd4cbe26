import CampusPKI
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import CampusAuthority

@Suite struct RenewalTests {
    static let root = try! RootAuthority.make()

    func issued() async throws -> (CertificateAuthority, Certificate) {
        let authority = CertificateAuthority(root: Self.root, registry: InMemoryCertificateRegistry())
        let (_, certificate) = try await authority.issue(csrPEM: try makeCSR(key: TestKeys.student))
        return (authority, certificate)
    }

    func proof(nonce: [UInt8], csrPEM: String, key: _RSA.Signing.PrivateKey = TestKeys.student) throws -> [UInt8] {
        try RenewalProof.sign(nonce: nonce, csrDER: try PEMDocument(pemString: csrPEM).derBytes, with: key)
    }

    @Test func aValidCertificateRenewsAndTheOldOneIsSuperseded() async throws {
        let (authority, current) = try await issued()
        let (checked, _) = try await authority.certificateToRenew(pem: try current.serializeAsPEM().pemString)
        let nonce = CertificateAuthority.renewalNonce()
        #expect(nonce.count == 32)
        let csr = try makeCSR(key: TestKeys.other)
        let (renewed, certificate) = try await authority.renew(
            checked, nonce: nonce, csrPEM: csr, signature: try proof(nonce: nonce, csrPEM: csr))
        #expect(certificate.publicKey == Certificate.PublicKey(TestKeys.other.publicKey))
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
        // The superseded certificate cannot renew again.
        await #expect {
            _ = try await authority.certificateToRenew(pem: try current.serializeAsPEM().pemString)
        } throws: { ($0 as? CampusError)?.code == .renewalDenied }
    }

    @Test func aProofForAnotherChallengeOrByAnotherKeyFails() async throws {
        let (authority, current) = try await issued()
        let csr = try makeCSR(key: TestKeys.other)
        let nonce = CertificateAuthority.renewalNonce()
        let replayed = try proof(nonce: CertificateAuthority.renewalNonce(), csrPEM: csr)
        let byAnotherKey = try proof(nonce: nonce, csrPEM: csr, key: TestKeys.other)
        let forAnotherCSR = try proof(nonce: nonce, csrPEM: try makeCSR(key: TestKeys.student))
        for signature in [replayed, byAnotherKey, forAnotherCSR] {
            await #expect {
                _ = try await authority.renew(current, nonce: nonce, csrPEM: csr, signature: signature)
            } throws: { ($0 as? CampusError)?.code == .renewalProofFailed }
        }
        #expect(try await authority.registry.certificates(for: nil).count == 1)
    }

    @Test func theNewCSRMustNameTheSameStudent() async throws {
        let (authority, current) = try await issued()
        let csr = try makeCSR(cn: ["1155000000"], key: TestKeys.other)
        let nonce = CertificateAuthority.renewalNonce()
        await #expect {
            _ = try await authority.renew(
                current, nonce: nonce, csrPEM: csr, signature: try proof(nonce: nonce, csrPEM: csr))
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
}

@Suite struct ServiceCertificateTests {
    @Test func blackboardsCertificateHasTheServiceProfileAndCannotActAsAStudent() async throws {
        let directory = try temporaryDirectory()
        let registry = try SQLiteCertificateRegistry(path: SecureFile.join(directory, "cuhk.db"))
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
        #expect(ServiceCertificate.isValidName("blackboard.cuhk.edu.hk"))
        #expect(!ServiceCertificate.isValidName("bad name") && !ServiceCertificate.isValidName("-x"))
    }
}
