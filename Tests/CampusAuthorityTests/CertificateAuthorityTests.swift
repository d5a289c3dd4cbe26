import CampusPKI
import CampusSQLite
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import CampusAuthority

@Suite struct CertificateAuthorityTests {
    static let root = try! RootAuthority.make()

    func authority(registry: any CertificateRegistry = InMemoryAuthorityStore()) -> CertificateAuthority {
        CertificateAuthority(root: Self.root, registry: registry)
    }

    func refusal(_ csrPEM: String) async -> CampusError.Code? {
        do {
            _ = try await authority().issue(csrPEM: csrPEM)
            return nil
        } catch {
            return (error as? CampusError)?.code
        }
    }

    @Test func issuesCertificateWithTheTemplateFields() async throws {
        let registry = InMemoryAuthorityStore()
        let now = Date()
        let (issued, certificate) = try await authority(registry: registry).issue(csrPEM: try makeCSR(), now: now)

        #expect(certificate.version == .v3)
        #expect(certificate.signatureAlgorithm == .sha256WithRSAEncryption)
        #expect(certificate.issuer == Self.root.certificate.subject)
        #expect(certificate.subject.commonNames == ["1155123456"])
        #expect(certificate.subject.description.contains("O=CUHK"))
        #expect(certificate.publicKey == Certificate.PublicKey(TestKeys.student.publicKey))
        #expect(certificate.serialNumber.bytes.count >= 8)
        #expect(certificate.serialNumber.bytes.first.map { $0 & 0x80 == 0 } == true)
        #expect(abs(certificate.notValidBefore.timeIntervalSince(now) + 300) < 2)
        #expect(abs(certificate.notValidAfter.timeIntervalSince(now) - 365 * 86_400) < 2)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(certificate.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.digitalSignature && usage.keyEncipherment && !usage.keyCertSign)
        #expect(certificate.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        #expect(try certificate.extensions.extendedKeyUsage == ExtendedKeyUsage([.clientAuth]))
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)
        #expect(
            try certificate.extensions.authorityKeyIdentifier?.keyIdentifier.map(Array.init)
                == Self.root.keyIdentifier
        )
        #expect(Self.root.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(try await registry.certificates(for: nil) == [issued])
        #expect(issued.serial == certificate.serialNumber.hex)
    }

    @Test func copiesNothingElseFromTheRequest() async throws {
        // A request that asks for more (an extra OU and an email in the subject) gets only CN=<SID> + CA's O.
        let subject = try DistinguishedName {
            OrganizationalUnitName("Admins")
            CommonName("1155123456")
        }
        let csr = try CertificateSigningRequest(
            version: .v1,
            subject: subject,
            privateKey: Certificate.PrivateKey(TestKeys.student),
            attributes: .init(),
            signatureAlgorithm: .sha256WithRSAEncryption
        )
        let (_, certificate) = try await authority().issue(csrPEM: try csr.serializeAsPEM().pemString)
        #expect(!certificate.subject.description.contains("Admins"))
        #expect(certificate.extensions.count == 6)
        // The only name besides the CN is the SID's URI in the SubjectAlternativeName.
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(Array(names) == [.directoryName(certificate.subject)])
    }

    @Test func serialsAreDistinct() async throws {
        let authority = authority()
        var serials = Set<String>()
        for _ in 0..<20 { serials.insert(try await authority.issue(csrPEM: try makeCSR()).0.serial) }
        #expect(serials.count == 20)
    }

    @Test(arguments: [[String](), ["115512345"], ["1155123456", "1155123457"], ["student"], ["1155123456x"]])
    func refusesSubjectsThatAreNotOneStudentID(_ names: [String]) async throws {
        #expect(await refusal(try makeCSR(cn: names)) == .invalidSubject)
    }

    @Test func refusesAWeakKey() async throws {
        #expect(await refusal(try makeCSR(key: TestKeys.weak)) == .keyTooSmall)
    }

    @Test func refusesKeysBelowAConfiguredMinimum() async throws {
        let strict = CertificateAuthority(
            root: Self.root,
            registry: InMemoryAuthorityStore(),
            configuration: .init(minimumKeyBits: 3072)
        )
        await #expect(throws: CampusError(.keyTooSmall, "the key has 2048 bits; at least 3072 are required")) {
            try await strict.issue(csrPEM: try makeCSR())
        }
    }

    @Test func refusesSHA1() async throws {
        #expect(await refusal(try makeCSR(algorithm: .sha1WithRSAEncryption)) == .weakSignatureAlgorithm)
    }

    @Test func refusesABrokenSignature() async throws {
        let document = try PEMDocument(pemString: try makeCSR())
        var der = document.derBytes
        der[der.count - 1] ^= 0x01
        let broken = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: der).pemString
        #expect(await refusal(broken) == .invalidCSRSignature)
    }

    @Test func refusesMalformedPEM() async {
        #expect(await refusal("hello") == .malformedCSR)
        #expect(
            await refusal(PEMDocument(type: "CERTIFICATE REQUEST", derBytes: [0x30, 0x03, 1, 2, 3]).pemString)
                == .malformedCSR)
        #expect(await refusal(Self.root.certificatePEM) == .malformedCSR)
    }

    @Test func rulesAcceptAndRefuseIndividually() throws {
        let good = try CertificateSigningRequest(pemEncoded: try makeCSR())
        let badName = try CertificateSigningRequest(pemEncoded: try makeCSR(cn: ["x"]))
        let sha1 = try CertificateSigningRequest(pemEncoded: try makeCSR(algorithm: .sha1WithRSAEncryption))
        #expect(StudentSubjectRule().evaluate(good) == nil)
        #expect(StudentSubjectRule().evaluate(badName)?.code == .invalidSubject)
        #expect(SignatureAlgorithmRule().evaluate(good) == nil)
        #expect(SignatureAlgorithmRule().evaluate(sha1)?.code == .weakSignatureAlgorithm)
        #expect(MinimumKeySizeRule(minimumBits: 2048).evaluate(good) == nil)
        #expect(MinimumKeySizeRule(minimumBits: 4096).evaluate(good)?.code == .keyTooSmall)
    }

    @Test func sqliteRegistryIsDurableAndRefusesDuplicateSerials() async throws {
        let path = SecureFile.join(try temporaryDirectory(), "cuhk.db")
        let (issued, _) = try await authority(registry: try SQLiteAuthorityStore(path: path)).issue(
            csrPEM: try makeCSR()
        )
        let reopened = try SQLiteAuthorityStore(path: path)
        let found = try #require(try await reopened.certificates(for: StudentID("1155123456")).first)
        #expect(found.serial == issued.serial && found.pem == issued.pem && found.studentID == issued.studentID)
        #expect(found.notValidBefore == issued.notValidBefore && found.notValidAfter == issued.notValidAfter)
        // Times are stored as seconds since 1970 in a REAL; the round trip may lose a fraction of a microsecond.
        #expect(abs(found.issuedAt.timeIntervalSince(issued.issuedAt)) < 0.001)
        #expect(try await reopened.certificates(for: StudentID("1155000000")) == [])
        await #expect(throws: RegistryError.duplicateSerial(issued.serial)) { try await reopened.record(issued) }
    }

    @Test func aCertificateThatCannotBeRecordedIsNotIssued() async throws {
        struct FullDisk: CertificateRegistry {
            func record(_ certificate: IssuedCertificate) async throws {
                throw CampusError(.internalError, "disk full")
            }
            func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate] { [] }
            func status(ofSerial serial: String) async throws -> CertificateStatus { .unknown }
            func revoke(serial: String, reason: RevocationReason, at time: Date) async throws -> IssuedCertificate {
                throw RegistryError.unknownSerial(serial)
            }
            func revokeAll(of studentID: StudentID, reason: RevocationReason, at time: Date) async throws
                -> [IssuedCertificate]
            { [] }
            func record(_ certificate: IssuedCertificate, superseding serial: String, at time: Date) async throws {
                throw CampusError(.internalError, "disk full")
            }
            func renewal(of serial: String) async throws -> IssuedCertificate? { nil }
        }
        await #expect {
            _ = try await authority(registry: FullDisk()).issue(csrPEM: try makeCSR())
        } throws: { error in
            (error as? CampusError)?.code == .issuanceFailed
        }
    }
}

/// Requests signed with algorithms swift-certificates cannot even parse still hear that the algorithm is weak.
@Suite struct WeakSignatureAlgorithmTests {
    /// The request's own info and signature, re-wrapped with another outer signature algorithm.
    static func resigned(_ csrPEM: String, algorithm: ASN1ObjectIdentifier) throws -> String {
        let document = try PEMDocument(pemString: csrPEM)
        guard case .constructed(let children) = try DER.parse(document.derBytes).content else {
            throw CampusError(.internalError, "not a SEQUENCE")
        }
        let parts = Array(children)
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(parts[0].encodedBytes)
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(algorithm)
                try coder.serialize(ASN1Null())
            }
            coder.serializeRawBytes(parts[2].encodedBytes)
        }
        return PEMDocument(type: "CERTIFICATE REQUEST", derBytes: serializer.serializedBytes).pemString
    }

    @Test(arguments: [
        ("1.2.840.113549.1.1.4", "MD5 with RSA"), ("1.2.840.10045.4.1", "ECDSA with SHA-1"),
        ("1.2.840.113549.1.1.5", "SHA-1 with RSA"), ("1.2.3.4", "the algorithm 1.2.3.4"),
    ])
    func answersWeakSignatureAlgorithm(oid: String, name: String) async throws {
        let csr = try Self.resigned(try makeCSR(), algorithm: try ASN1ObjectIdentifier(dotRepresentation: oid))
        let authority = CertificateAuthority(
            root: CertificateAuthorityTests.root, registry: InMemoryAuthorityStore())
        await #expect {
            _ = try await authority.issue(csrPEM: csr)
        } throws: { error in
            guard let error = error as? CampusError else { return false }
            return error.code == .weakSignatureAlgorithm && error.reason.contains(name)
        }
    }

    @Test func aDamagedRequestIsMalformedWithoutLibraryInternals() async throws {
        let pem = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: [0x30, 0x03, 0x02, 0x01, 0x01]).pemString
        let authority = CertificateAuthority(
            root: CertificateAuthorityTests.root, registry: InMemoryAuthorityStore())
        await #expect {
            _ = try await authority.issue(csrPEM: pem)
        } throws: { error in
            guard let error = error as? CampusError, error.code == .malformedCSR else { return false }
            // The peer's reason is plain; the parser's own words stay in the log's detail.
            return !error.reason.contains(".swift") && !error.reason.contains("ASN1") && error.detail != nil
        }
    }
}
