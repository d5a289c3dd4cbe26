import CampusCommandLine
import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import Testing
@_spi(CMS) import X509
import _CryptoExtras

/// Signed receipts: the canonical document, CMS signing and every check of verification, and OpenSSL's view.
@Suite struct SignedReceiptTests {
    /// A root, a Blackboard service certificate and a student certificate, made for these tests.
    struct PKI {
        static let rootKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        static let otherRootKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        static let studentKey = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        static let serviceKey = P256.Signing.PrivateKey()

        static let rootName = try! DistinguishedName {
            CountryName("HK")
            OrganizationName("CUHK")
            CommonName("CUHK Root CA")
        }

        static let root = try! makeRoot(key: rootKey)
        /// Same name as ``root``, another key: the kind of root an attacker would make.
        static let otherRoot = try! makeRoot(key: otherRootKey)

        static func makeRoot(key: _RSA.Signing.PrivateKey) throws -> Certificate {
            let privateKey = Certificate.PrivateKey(key)
            return try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: privateKey.publicKey,
                notValidBefore: Date().addingTimeInterval(-3 * 365 * 86_400),
                notValidAfter: Date().addingTimeInterval(10 * 365 * 86_400),
                issuer: rootName,
                subject: rootName,
                signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                },
                issuerPrivateKey: privateKey
            )
        }

        /// A service certificate with the profile of `cuhk service issue`.
        static func service(
            name: String = "blackboard", key: P256.Signing.PrivateKey = serviceKey,
            notBefore: Date = Date().addingTimeInterval(-86_400),
            notAfter: Date = Date().addingTimeInterval(365 * 86_400),
            issuerKey: _RSA.Signing.PrivateKey = rootKey
        ) throws -> Certificate {
            try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: notBefore,
                notValidAfter: notAfter,
                issuer: rootName,
                subject: try DistinguishedName {
                    OrganizationName("CUHK")
                    CommonName(name)
                },
                signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames([.dnsName(name)])
                },
                issuerPrivateKey: Certificate.PrivateKey(issuerKey)
            )
        }

        /// A student's cert 2: RSA, clientAuth, the SID as common name.
        static func student() throws -> Certificate {
            try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: Certificate.PublicKey(studentKey.publicKey),
                notValidBefore: Date().addingTimeInterval(-86_400),
                notValidAfter: Date().addingTimeInterval(365 * 86_400),
                issuer: rootName,
                subject: try DistinguishedName {
                    OrganizationName("CUHK")
                    CommonName("1155123456")
                },
                signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.clientAuth])
                },
                issuerPrivateKey: Certificate.PrivateKey(rootKey)
            )
        }
    }

    static let fixedText = """
        CampusPKI submission receipt
        protocol: 2
        sid: 1155123456
        certificate-serial: 0a1b2c3d
        assignment: lab-3.final_v2
        deadline: 2026-12-01T23:59:59Z
        report: 42
        messages: 3
        bytes: 1234
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        committed: 2026-11-28T01:02:03Z
        status: on-time

        """

    /// The document of ``fixedText``, made from values.
    static func fixedDocument() throws -> ReceiptDocument {
        try ReceiptDocument(
            studentID: "1155123456", certificateSerial: "0a1b2c3d", assignment: "lab-3.final_v2",
            deadline: Date(timeIntervalSince1970: 1_796_169_599.75), report: 42, messageCount: 3, totalBytes: 1234,
            contentSHA256: Array(SHA256.hash(data: Array("test".utf8))),
            committedAt: Date(timeIntervalSince1970: 1_795_827_723.9), isLate: false)
    }

    /// A document for `content`, committed at `committedAt`.
    static func document(for content: [UInt8], committedAt: Date = Date()) throws -> ReceiptDocument {
        try ReceiptDocument(
            studentID: "1155123456", certificateSerial: "7f01", assignment: "report", deadline: nil, report: 7,
            messageCount: 1, totalBytes: UInt64(content.count), contentSHA256: Array(SHA256.hash(data: content)),
            committedAt: committedAt, isLate: true)
    }

    static let content = Array("The report of 1155123456.\n".utf8)

    // MARK: - The document

    @Test func canonicalTextIsExactlyTheFixedLines() throws {
        let document = try Self.fixedDocument()
        #expect(document.canonicalText == Self.fixedText)
        #expect(document.canonicalBytes == Array(Self.fixedText.utf8))
        #expect(document.committedAt == Date(timeIntervalSince1970: 1_795_827_723))
        #expect(document.deadline == Date(timeIntervalSince1970: 1_796_169_599))
        #expect(try ReceiptDocument(parsing: Array(Self.fixedText.utf8)) == document)
        #expect(document.fieldLines().map(\.0).first == "protocol")
        #expect(document.fieldLines().map(\.1).last == "on-time")
    }

    @Test func aDocumentWithoutDeadlineRoundTrips() throws {
        let document = try Self.document(for: Self.content, committedAt: Date(timeIntervalSince1970: 0))
        #expect(document.canonicalText.contains("\ndeadline: none\n"))
        #expect(document.canonicalText.contains("\ncommitted: 1970-01-01T00:00:00Z\n"))
        #expect(document.canonicalText.hasSuffix("\nstatus: late\n"))
        #expect(try ReceiptDocument(parsing: document.canonicalBytes) == document)
    }

    /// Texts that differ from ``fixedText`` in one way each: (what changed, replace what, with what).
    static let damagedTexts: [(String, String)] = {
        let replacements: [(String, String, String)] = [
            ("a missing line", "messages: 3\n", ""),
            ("reordered lines", "report: 42\nmessages: 3\n", "messages: 3\nreport: 42\n"),
            ("CRLF line ends", "\n", "\r\n"),
            ("a trailing space", "report: 42\n", "report: 42 \n"),
            ("a leading zero", "report: 42\n", "report: 042\n"),
            ("a plus sign", "report: 42\n", "report: +42\n"),
            ("upper-case hex", "sha256: 9f86", "sha256: 9F86"),
            ("a short digest", "0f00a08\n", "0f00a\n"),
            ("another title", "CampusPKI submission", "CampusPKI Submission"),
            ("another protocol", "protocol: 2", "protocol: 3"),
            ("a 9-digit SID", "sid: 1155123456", "sid: 115512345"),
            ("a bad assignment", "lab-3.final_v2", "lab 3"),
            ("an odd serial", "0a1b2c3d", "a1b2c3d"),
            ("fractional seconds", "01:02:03Z", "01:02:03.5Z"),
            ("a time zone offset", "01:02:03Z", "01:02:03+00:00"),
            ("30 February", "2026-11-28T", "2026-02-30T"),
            ("another status", "status: on-time", "status: ontime"),
            ("no space after the colon", "bytes: 1234", "bytes:1234"),
            ("a key in capitals", "bytes: 1234", "Bytes: 1234"),
        ]
        let changed = replacements.map { change, target, replacement in
            (change, fixedText.replacingOccurrences(of: target, with: replacement))
        }
        return changed + [
            ("an extra line", fixedText + "note: hello\n"),
            ("an empty line at the end", fixedText + "\n"),
            ("no final line break", String(fixedText.dropLast())),
            ("a byte-order mark", "\u{FEFF}" + fixedText),
        ]
    }()

    @Test(arguments: damagedTexts)
    func parsingRefusesAnythingButTheCanonicalForm(_ change: String, _ text: String) {
        #expect(throws: ReceiptError.self, "\(change) must be refused") {
            try ReceiptDocument(parsing: Array(text.utf8))
        }
        do {
            _ = try ReceiptDocument(parsing: Array(text.utf8))
        } catch {
            guard case .malformedDocument = error else {
                Issue.record("\(change): expected malformedDocument, got \(error)")
                return
            }
        }
    }

    @Test func assignmentNames() throws {
        #expect(ReceiptDocument.isValidAssignmentName("lab-3.final_v2"))
        #expect(ReceiptDocument.isValidAssignmentName(String(repeating: "a", count: 64)))
        #expect(!ReceiptDocument.isValidAssignmentName(String(repeating: "a", count: 65)))
        #expect(!ReceiptDocument.isValidAssignmentName(""))
        #expect(!ReceiptDocument.isValidAssignmentName("lab 3"))
        #expect(!ReceiptDocument.isValidAssignmentName("lab/3"))
        #expect(!ReceiptDocument.isValidAssignmentName("läb"))
        #expect(throws: ReceiptError.self) {
            try ReceiptDocument(
                studentID: "1155123456", certificateSerial: "01", assignment: "a\nstatus: on-time", deadline: nil,
                report: 1, messageCount: 1, totalBytes: 1, contentSHA256: Array(repeating: 0, count: 32),
                committedAt: Date(), isLate: false)
        }
    }

    // MARK: - Signing and verifying

    @Test func signThenVerifyReturnsTheDocument() async throws {
        let certificate = try PKI.service()
        let document = try Self.document(for: Self.content)
        let receipt = try SignedReceipt.sign(document, certificate: certificate, privateKey: PKI.serviceKey)
        let verified = try await SignedReceipt.verify(
            receipt, root: PKI.root, blackboardName: "blackboard", content: Self.content)
        #expect(verified.document == document)
        #expect(verified.signer == certificate)
        #expect(verified.signerName == "blackboard")
        // The name is compared without regard to case.
        let upper = try await SignedReceipt.verify(receipt, root: PKI.root, blackboardName: "BlackBoard")
        #expect(upper.document == document)
        // PEM is read as well as DER.
        let pem = PEMDocument(type: "CMS", derBytes: receipt).pemString
        #expect(try SignedReceipt.der(fromFile: Array(pem.utf8)) == receipt)
        #expect(try SignedReceipt.der(fromFile: receipt) == receipt)
    }

    @Test func theReceiptIsAttachedSignedDataWithSigningTime() throws {
        let document = try Self.document(for: Self.content)
        let receipt = try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
        let signature = try CMSSignature(derEncoded: receipt)
        let signer = try #require(try signature.signers.first)
        #expect(signer.signingTime == document.committedAt)
        // The canonical bytes are inside the DER.
        #expect(receipt.firstRange(of: document.canonicalBytes) != nil)
        // ecdsa-with-SHA256, 1.2.840.10045.4.3.2.
        #expect(receipt.firstRange(of: [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]) != nil)
    }

    @Test func signingRefusesAKeyOfAnotherCertificate() throws {
        let document = try Self.document(for: Self.content)
        #expect(throws: ReceiptError.self) {
            try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: P256.Signing.PrivateKey())
        }
    }

    @Test func flippingAnyByteMakesVerificationFail() async throws {
        let document = try Self.document(for: Self.content)
        let receipt = try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
        var accepted: [Int] = []
        for position in receipt.indices {
            for mask: UInt8 in [0x01, 0xFF] {
                var damaged = receipt
                damaged[position] ^= mask
                if (try? await SignedReceipt.verify(damaged, root: PKI.root, blackboardName: "blackboard")) != nil {
                    accepted.append(position)
                }
            }
        }
        #expect(accepted.isEmpty, "receipts with a byte flipped at \(accepted) verified")
        // Cut short, or with bytes after the end.
        await #expect(throws: ReceiptError.self) {
            try await SignedReceipt.verify(receipt.dropLast(), root: PKI.root, blackboardName: "blackboard")
        }
        await #expect(throws: ReceiptError.self) {
            try await SignedReceipt.verify(receipt + [0], root: PKI.root, blackboardName: "blackboard")
        }
    }

    /// Swift-certificates reads an RSA signature BIT STRING with unused bits as the same signature; OpenSSL refuses
    /// it ("invalid bit string bits left"), and so must a receipt check, or the byte would be malleable.
    @Test func aCertificateSignatureWithUnusedBitsIsRefused() async throws {
        // Only a signature whose last bit is 0 still parses with one unused bit.
        var certificate = try PKI.service()
        while certificate.derBytes.last! & 1 == 1 { certificate = try PKI.service() }
        let receipt = try SignedReceipt.sign(
            try Self.document(for: Self.content), certificate: certificate, privateKey: PKI.serviceKey)
        let range = try #require(receipt.firstRange(of: certificate.derBytes))
        let unusedBits = range.upperBound - 257
        #expect(receipt[unusedBits - 4..<unusedBits + 1] == [0x03, 0x82, 0x01, 0x01, 0x00])
        var damaged = receipt
        damaged[unusedBits] = 1
        let error = await verificationError(damaged)
        guard case .untrustedSigner(let reason) = error else {
            Issue.record("expected untrustedSigner, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("unused bits"))
    }

    @Test func aChangedDocumentIsABadSignature() async throws {
        let document = try Self.document(for: Self.content)
        let receipt = try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
        // "status: late" becomes "status: lata": still a parseable line, so the signature check must catch it.
        var damaged = receipt
        let range = try #require(receipt.firstRange(of: Array("status: late".utf8)))
        damaged[range.upperBound - 1] = UInt8(ascii: "a")
        let error = await verificationError(damaged)
        guard case .malformedDocument = error else {
            Issue.record("expected malformedDocument, got \(String(describing: error))")
            return
        }
        // A parseable change: report 7 becomes report 8.
        var changed = receipt
        let report = try #require(receipt.firstRange(of: Array("report: 7".utf8)))
        changed[report.upperBound - 1] = UInt8(ascii: "8")
        let changedError = await verificationError(changed)
        guard case .badSignature = changedError else {
            Issue.record("expected badSignature, got \(String(describing: changedError))")
            return
        }
        #expect("\(changedError!)".contains("signature"))
    }

    @Test func aSignerFromAnotherRootIsUntrusted() async throws {
        let certificate = try PKI.service(issuerKey: PKI.otherRootKey)
        let receipt = try SignedReceipt.sign(
            try Self.document(for: Self.content), certificate: certificate, privateKey: PKI.serviceKey)
        let error = await verificationError(receipt)
        guard case .untrustedSigner(let reason) = error else {
            Issue.record("expected untrustedSigner, got \(String(describing: error))")
            return
        }
        #expect(reason.contains(PKI.root.sha256Fingerprint))
        // The same receipt verifies against the root that issued its signer.
        let verified = try await SignedReceipt.verify(receipt, root: PKI.otherRoot, blackboardName: "blackboard")
        #expect(verified.signer == certificate)
    }

    @Test func aSignerWithAnotherNameIsRefused() async throws {
        let receipt = try SignedReceipt.sign(
            try Self.document(for: Self.content), certificate: try PKI.service(name: "blackboard-test"),
            privateKey: PKI.serviceKey)
        let error = await verificationError(receipt)
        #expect(error == .wrongSignerName(expected: "blackboard", found: ["blackboard-test"]))
        #expect("\(error!)".contains("\"blackboard-test\""))
        let verified = try await SignedReceipt.verify(receipt, root: PKI.root, blackboardName: "blackboard-test")
        #expect(verified.signerName == "blackboard-test")
    }

    @Test func aStudentCertificateCannotSignAReceipt() async throws {
        let student = try PKI.student()
        let document = try Self.document(for: Self.content)
        let receipt = try CMS.sign(
            document.canonicalBytes, signatureAlgorithm: .sha256WithRSAEncryption, certificate: student,
            privateKey: Certificate.PrivateKey(PKI.studentKey), signingTime: document.committedAt, detached: false)
        // Receipts are signed with ECDSA: an RSA signature is refused before its certificate is even looked at.
        let error = await verificationError(receipt)
        guard case .badSignature(let reason) = error else {
            Issue.record("expected badSignature, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("ecdsa-with-SHA256"))
    }

    @Test func aServiceCertificateWithoutServerAuthIsRefused() async throws {
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: Certificate.PublicKey(PKI.serviceKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-86_400), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: PKI.rootName, subject: try DistinguishedName { CommonName("blackboard") },
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([.dnsName("blackboard")])
            },
            issuerPrivateKey: Certificate.PrivateKey(PKI.rootKey))
        let receipt = try SignedReceipt.sign(
            try Self.document(for: Self.content), certificate: certificate, privateKey: PKI.serviceKey)
        let error = await verificationError(receipt)
        guard case .notAServiceCertificate(let reason) = error else {
            Issue.record("expected notAServiceCertificate, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("serverAuth"))
    }

    @Test func otherContentIsAMismatch() async throws {
        let receipt = try SignedReceipt.sign(
            try Self.document(for: Self.content), certificate: try PKI.service(), privateKey: PKI.serviceKey)
        var sameSize = Self.content
        sameSize[0] ^= 0x20
        for other in [sameSize, Self.content + [0x0A], []] {
            let error = await verificationError(receipt, content: other)
            guard case .contentMismatch = error else {
                Issue.record("expected contentMismatch, got \(String(describing: error))")
                continue
            }
        }
        let sizeError = await verificationError(receipt, content: [])
        #expect("\(sizeError!)".contains("0 bytes"))
    }

    /// Only the signer's key vouches for the time a receipt claims, so the chain is checked now: once the certificate
    /// has expired, whoever kept its key could sign a receipt with any time in the certificate's life.
    @Test func aReceiptIsCheckedNowAndRefusedOnceItsSignersCertificateHasExpired() async throws {
        let committed = Date().addingTimeInterval(-30 * 86_400)
        let certificate = try PKI.service(
            notBefore: committed.addingTimeInterval(-86_400), notAfter: committed.addingTimeInterval(86_400))
        #expect(certificate.notValidAfter < Date())
        let document = try Self.document(for: Self.content, committedAt: committed)
        let receipt = try SignedReceipt.sign(document, certificate: certificate, privateKey: PKI.serviceKey)
        // While the certificate was valid, it verified.
        let then = committed.addingTimeInterval(3600)
        let verified = try await SignedReceipt.verify(
            receipt, root: PKI.root, blackboardName: "blackboard", content: Self.content, at: then)
        #expect(verified.document == document)
        // Today it is refused, and the reason says why the time cannot be trusted.
        let error = await verificationError(receipt)
        guard case .untrustedSigner(let reason) = error else {
            Issue.record("expected untrustedSigner, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("it expired at"))
        #expect(reason.contains("Without a timestamp from CUHK"))
    }

    @Test func aCommitTimeOutsideTheCertificatesLifeOrInTheFutureIsRefused() async throws {
        let certificate = try PKI.service(
            notBefore: Date().addingTimeInterval(-86_400), notAfter: Date().addingTimeInterval(86_400))
        for committed in [Date().addingTimeInterval(-2 * 86_400), Date().addingTimeInterval(3600)] {
            let receipt = try SignedReceipt.sign(
                try Self.document(for: Self.content, committedAt: committed), certificate: certificate,
                privateKey: PKI.serviceKey)
            let error = await verificationError(receipt)
            guard case .signingTimeMismatch(let reason) = error else {
                Issue.record("expected signingTimeMismatch, got \(String(describing: error))")
                continue
            }
            #expect(reason.contains(committed < Date() ? "was not valid" : "later than now"))
        }
    }

    /// A signature without signed attributes covers the text but no time: the signing time could be anything.
    @Test func aReceiptWithoutSignedAttributesIsRefused() async throws {
        let document = try Self.document(for: Self.content)
        let receipt = try CMS.sign(
            document.canonicalBytes, signatureAlgorithm: .ecdsaWithSHA256, certificate: try PKI.service(),
            privateKey: Certificate.PrivateKey(PKI.serviceKey), signingTime: nil, detached: false)
        let error = await verificationError(receipt)
        guard case .badSignature(let reason) = error else {
            Issue.record("expected badSignature, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("no signed attributes"))
    }

    /// Each way a receipt can differ from what Blackboard writes gets a sentence, never a Swift type's name.
    @Test func everyRefusalIsAPlainSentence() async throws {
        let document = try Self.document(for: Self.content)
        let receipt = try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
        var damaged: [[UInt8]] = []
        // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) becomes 1.2.840.10045.4.3.5, an algorithm nobody knows.
        let algorithm: [UInt8] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
        var unknownAlgorithm = receipt
        let range = try #require(receipt.firstRange(of: algorithm))
        unknownAlgorithm[range.upperBound - 1] = 0x05
        damaged.append(unknownAlgorithm)
        // SHA-384 with P-256, and an RSA signature.
        damaged.append(
            try CMS.sign(
                document.canonicalBytes, signatureAlgorithm: .ecdsaWithSHA384, certificate: try PKI.service(),
                privateKey: Certificate.PrivateKey(PKI.serviceKey), signingTime: document.committedAt, detached: false))
        for position in stride(from: 0, to: receipt.count, by: 7) {
            var flipped = receipt
            flipped[position] ^= 0x41
            damaged.append(flipped)
        }
        for bytes in damaged {
            guard let error = await verificationError(bytes) else {
                Issue.record("a damaged receipt verified")
                continue
            }
            let text = "\(error)"
            for word in ["Error.", "Error(", "ASN1", "Reason:", "invalidASN1", "CertificateError", ".swift"] {
                #expect(!text.contains(word), "\"\(word)\" in: \(text)")
            }
        }
    }

    @Test func aSigningTimeOtherThanTheCommitTimeIsRefused() async throws {
        let certificate = try PKI.service()
        let document = try Self.document(for: Self.content)
        let receipt = try CMS.sign(
            document.canonicalBytes, signatureAlgorithm: .ecdsaWithSHA256, certificate: certificate,
            privateKey: Certificate.PrivateKey(PKI.serviceKey),
            signingTime: document.committedAt.addingTimeInterval(60),
            detached: false)
        let error = await verificationError(receipt)
        guard case .signingTimeMismatch = error else {
            Issue.record("expected signingTimeMismatch, got \(String(describing: error))")
            return
        }
    }

    @Test func aDetachedSignatureOrOtherBytesAreNotAReceipt() async throws {
        let certificate = try PKI.service()
        let document = try Self.document(for: Self.content)
        let detached = try CMS.sign(
            document.canonicalBytes, signatureAlgorithm: .ecdsaWithSHA256, certificate: certificate,
            privateKey: Certificate.PrivateKey(PKI.serviceKey), signingTime: document.committedAt, detached: true)
        for bytes in [detached, document.canonicalBytes, [], PKI.root.derBytes] {
            let error = await verificationError(bytes)
            guard case .notCMS = error else {
                Issue.record("expected notCMS, got \(String(describing: error))")
                continue
            }
        }
    }

    func verificationError(_ receipt: [UInt8], content: [UInt8]? = nil) async -> ReceiptError? {
        do {
            _ = try await SignedReceipt.verify(receipt, root: PKI.root, blackboardName: "blackboard", content: content)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - OpenSSL

    static let openSSL: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(.enabled(if: openSSL != nil, "skipped: no openssl command at /usr/bin/openssl or /usr/local/bin/openssl"))
    func openSSLVerifiesTheReceiptAndPrintsTheDocument() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("receipt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let document = try Self.document(for: Self.content)
        let receipt = try SignedReceipt.sign(document, certificate: try PKI.service(), privateKey: PKI.serviceKey)
        try PKI.root.serializeAsPEM().pemString.write(
            toFile: directory + "/root.pem", atomically: true, encoding: .utf8)
        try Data(receipt).write(to: URL(fileURLWithPath: directory + "/r.p7s"))

        let arguments = [
            "cms", "-verify", "-inform", "DER", "-in", directory + "/r.p7s", "-CAfile", directory + "/root.pem",
            "-purpose", "any", "-out", directory + "/doc.txt",
        ]
        let good = try Self.runOpenSSL(arguments)
        #expect(good.status == 0, "openssl: \(good.output)")
        #expect(good.output == "CMS Verification successful\n")
        let printed = try Data(contentsOf: URL(fileURLWithPath: directory + "/doc.txt"))
        #expect(Array(printed) == document.canonicalBytes)

        // S/MIME, OpenSSL's default purpose, wants an e-mail certificate; the TLS server purpose checks serverAuth.
        var withoutPurpose = arguments
        withoutPurpose.removeSubrange(
            withoutPurpose.firstIndex(of: "-purpose")!...withoutPurpose.firstIndex(of: "any")!)
        let defaultPurpose = try Self.runOpenSSL(withoutPurpose)
        #expect(defaultPurpose.status != 0)
        #expect(defaultPurpose.output.contains("unsuitable certificate purpose"))
        let serverPurpose = try Self.runOpenSSL(arguments.map { $0 == "any" ? "sslserver" : $0 })
        #expect(serverPurpose.status == 0, "openssl: \(serverPurpose.output)")

        var damaged = receipt
        let range = try #require(receipt.firstRange(of: Array("report: 7".utf8)))
        damaged[range.upperBound - 1] = UInt8(ascii: "8")
        try Data(damaged).write(to: URL(fileURLWithPath: directory + "/r.p7s"))
        let bad = try Self.runOpenSSL(arguments)
        #expect(bad.status != 0)
        #expect(bad.output.hasPrefix("CMS Verification failure\n"))
        #expect(bad.output.contains("content verify error"))
    }

    static func runOpenSSL(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let (termination, output) = try ChildProcess.capture(openSSL!, arguments: arguments)
        return (termination.statusOrSignal, output)
    }
}

extension Certificate {
    fileprivate var derBytes: [UInt8] {
        var serializer = DER.Serializer()
        try! serializer.serialize(self)
        return serializer.serializedBytes
    }
}
