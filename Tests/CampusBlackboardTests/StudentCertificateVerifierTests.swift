import CampusBlackboard
import CampusPKI
import Foundation
import SwiftASN1
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

    /// Cert 2 in the form PEM writers use takes the fast path, with swift-asn1's bytes; any other form goes to
    /// swift-asn1's parser, and parses (or is refused) as it did before.
    @Test func canonicalPEMTakesTheFastPathAndOtherFormsTheParser() throws {
        let certificate = try CertificateFactory.student()
        let pem = certificate.pem
        let der = try #require(PEMDocument.derBytes(ofCanonical: pem, discriminator: "CERTIFICATE"))
        #expect(der == (try PEMDocument(pemString: pem)).derBytes)
        #expect(PEMDocument.derBytes(ofCanonical: pem + "\n", discriminator: "CERTIFICATE") == der)

        let base64 = Data(der).base64EncodedString()
        let wrapped76 = stride(from: 0, to: base64.count, by: 76).map { start in
            let from = base64.index(base64.startIndex, offsetBy: start)
            return String(
                base64[from..<(base64.index(from, offsetBy: 76, limitedBy: base64.endIndex) ?? base64.endIndex)])
        }
        let variants = [
            pem.replacingOccurrences(of: "\n", with: "\r\n"),
            "\n" + pem,
            pem + "\n\n",
            pem.replacingOccurrences(of: "CERTIFICATE", with: "TRUSTED CERTIFICATE"),
            "-----BEGIN CERTIFICATE-----\n" + wrapped76.joined(separator: "\n") + "\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\n" + base64 + "\n-----END CERTIFICATE-----",
        ]
        for variant in variants {
            #expect(PEMDocument.derBytes(ofCanonical: variant, discriminator: "CERTIFICATE") == nil)
            let asn1 = try? PEMDocument(pemString: variant)
            if let asn1, asn1.discriminator == "CERTIFICATE" {
                #expect(try StudentCertificateVerifier.parseCertificate(pem: variant) == certificate)
            } else {
                #expect(throws: CampusError.self) { try StudentCertificateVerifier.parseCertificate(pem: variant) }
            }
        }
    }

    /// Whatever the length of the DER, the fast path reads back what `PEMDocument.text` wrote.
    @Test func canonicalPEMOfEveryLengthReadsBack() {
        for length in 1...200 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ length) }
            let text = PEMDocument(type: "CERTIFICATE", derBytes: bytes).text
            #expect(PEMDocument.derBytes(ofCanonical: text, discriminator: "CERTIFICATE") == bytes)
            #expect(PEMDocument.derBytes(ofCanonical: text, discriminator: "PRIVATE KEY") == nil)
        }
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
