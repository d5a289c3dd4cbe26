import CampusBlackboard
import CampusPKI
import Foundation
import Testing
import X509

@Suite struct StudentCertificateVerifierTests {
    let verifier = StudentCertificateVerifier(root: try! CertificateFactory.root())
    let sid = StudentID("1155123456")!

    func failure(_ certificate: Certificate, sid: StudentID? = nil) async -> CampusError.Code? {
        do {
            _ = try await verifier.verify(certificatePEM: certificate.pem, for: sid ?? self.sid)
            return nil
        } catch {
            return (error as? CampusError)?.code
        }
    }

    @Test func acceptsAGoodCertificate() async throws {
        let certificate = try CertificateFactory.student()
        let verified = try await verifier.verify(certificatePEM: certificate.pem, for: sid)
        #expect(verified == certificate)
    }

    @Test func refusesAnotherCA() async throws {
        #expect(
            await failure(try CertificateFactory.student(issuerKey: CertificateFactory.otherRootKey))
                == .untrustedCertificate)
    }

    @Test func refusesExpiredAndNotYetValid() async throws {
        let expired = try CertificateFactory.student(
            notBefore: Date().addingTimeInterval(-400 * 86_400),
            notAfter: Date().addingTimeInterval(-86_400)
        )
        #expect(await failure(expired) == .certificateExpired)
        let future = try CertificateFactory.student(
            notBefore: Date().addingTimeInterval(86_400),
            notAfter: Date().addingTimeInterval(400 * 86_400)
        )
        #expect(await failure(future) == .certificateNotYetValid)
    }

    @Test func refusesCACertificates() async throws {
        #expect(await failure(try CertificateFactory.student(isCA: true)) == .notAClientCertificate)
        // The trusted root itself, presented as a student's certificate.
        let code = await failure(verifier.root)
        #expect(code == .notAClientCertificate, "got \(String(describing: code))")
    }

    @Test func refusesMissingUsages() async throws {
        #expect(
            await failure(try CertificateFactory.student(extendedKeyUsage: [.serverAuth])) == .missingClientAuthUsage)
        #expect(
            await failure(try CertificateFactory.student(keyUsage: KeyUsage(digitalSignature: true)))
                == .missingKeyEnciphermentUsage
        )
    }

    @Test func refusesASIDMismatch() async throws {
        #expect(await failure(try CertificateFactory.student(cn: "1155000000")) == .sidMismatch)
    }

    @Test func refusesALeafWithoutBasicConstraints() async throws {
        // RFC 5280 lets a leaf omit it; a student's certificate must say CA:FALSE.
        #expect(await failure(try CertificateFactory.student(basicConstraints: false)) == .notAClientCertificate)
    }

    @Test func checksTheSIDInTheSubjectAlternativeName() async throws {
        let matching = try CertificateFactory.student(
            subjectAlternativeNames: [.directoryName(try DistinguishedName { CommonName("1155123456") })])
        #expect(try await verifier.verify(certificatePEM: matching.pem, for: sid) == matching)
        let other = try CertificateFactory.student(
            subjectAlternativeNames: [.directoryName(try DistinguishedName { CommonName("1155000000") })])
        #expect(await failure(other) == .sidMismatch)
    }

    @Test func anUntrustedChainNamesTheRootsFingerprint() async throws {
        let certificate = try CertificateFactory.student(issuerKey: CertificateFactory.otherRootKey)
        await #expect {
            _ = try await verifier.verify(certificatePEM: certificate.pem, for: sid)
        } throws: { error in
            (error as? CampusError)?.reason.contains(verifier.root.sha256Fingerprint) == true
        }
    }

    @Test func refusesDamagedPEM() async throws {
        await #expect(throws: CampusError.self) {
            _ = try await verifier.verify(certificatePEM: "garbage", for: sid)
        }
        #expect(
            (try? StudentCertificateVerifier.parseCertificate(
                pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
                == nil
        )
    }
}

@Suite struct UploadRequestTextTests {
    @Test func roundTrips() throws {
        let sid = StudentID("1155123456")!
        #expect(UploadRequestText.make(for: sid) == "SID:1155123456 requests to upload report !")
        #expect(try UploadRequestText.studentID(in: UploadRequestText.make(for: sid)) == sid)
    }

    @Test(arguments: [
        "SID:115512345 requests to upload report !", "SID:1155123456 requests to upload report",
        "sid:1155123456 requests to upload report !",
        "SID:1155123456  requests to upload report !", "", "SID:11551234567 requests to upload report !",
    ])
    func refusesOtherTexts(_ text: String) {
        #expect(throws: CampusError.self) { try UploadRequestText.studentID(in: text) }
    }
}
