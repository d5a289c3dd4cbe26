import CampusPKI
import Crypto
import Foundation
import NIOCore
import SwiftASN1
import Testing
@_spi(CMS) import X509

/// Checks this implementation against the test vectors published in docs/PROTOCOL.md, section 7, so the
/// document and the code cannot drift apart.
@Suite struct ProtocolVectorTests {
    static let vectors: [String: [UInt8]] = {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/PROTOCOL.md").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let start = text.range(of: "```vectors\n"),
            let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
        else { return [:] }
        var vectors: [String: [UInt8]] = [:]
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            vectors[parts[0]] = hexBytes(parts[1])
        }
        return vectors
    }()

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    func vector(_ name: String) throws -> [UInt8] {
        try #require(Self.vectors[name], "docs/PROTOCOL.md has no vector \(name)")
    }

    @Test func theDocumentHasAllVectors() {
        #expect(Self.vectors.count == 72)
    }

    func text(_ name: String) throws -> String {
        String(decoding: try vector(name), as: UTF8.self)
    }

    func bytes(_ key: SymmetricKey) -> [UInt8] {
        key.withUnsafeBytes { Array($0) }
    }

    /// X25519, the step-3 and step-4 payloads, Blackboard's signature and the transcript hashes.
    @Test func handshakeVectors() throws {
        let studentShare = try Curve25519.KeyAgreement.PrivateKey(
            rawRepresentation: try vector("student_x25519_private"))
        let blackboardShare = try Curve25519.KeyAgreement.PrivateKey(
            rawRepresentation: try vector("blackboard_x25519_private"))
        #expect(Array(studentShare.publicKey.rawRepresentation) == (try vector("student_share")))
        #expect(Array(blackboardShare.publicKey.rawRepresentation) == (try vector("blackboard_share")))
        #expect(
            try SessionKeySchedule.sharedSecret(studentShare, peerShare: try vector("blackboard_share"))
                == (try vector("shared_secret")))
        #expect(
            try SessionKeySchedule.sharedSecret(blackboardShare, peerShare: try vector("student_share"))
                == (try vector("shared_secret")))

        let request = WireMessage.uploadRequest(
            UploadRequest(
                requestText: "SID:1155123456 requests to upload report !",
                certificatePEM: "-----BEGIN CERTIFICATE-----\nVEVTVA==\n-----END CERTIFICATE-----\n",
                assignment: "a1", keyShare: try vector("student_share"), nonce: try vector("student_nonce")))
        #expect(Array(request.encoded().readableBytesView) == (try vector("request_payload")))
        let offer = WireMessage.sessionKey(
            SessionKeyOffer(
                sessionID: try vector("session_id"),
                certificatePEM: "-----BEGIN CERTIFICATE-----\nQkxBQ0tCT0FSRA==\n-----END CERTIFICATE-----\n",
                keyShare: try vector("blackboard_share"), encryptedSecret: Array(repeating: 0x5a, count: 256),
                assignment: "a1", deadline: "2026-12-01T23:59:59Z"))
        #expect(Array(offer.encoded().readableBytesView) == (try vector("session_key_payload")))

        var transcript = HandshakeTranscript()
        transcript.append(ByteBuffer(bytes: try vector("request_payload")))
        transcript.append(ByteBuffer(bytes: try vector("session_key_payload")))
        #expect(transcript.digest == (try vector("transcript_digest_ab")))
        #expect(
            BlackboardSignature.signedBytes(transcriptDigest: transcript.digest)
                == (try vector("signature_signed_bytes")))

        // ECDSA is randomized: the published signature is one to verify, with the published key.
        let signingKey = try P256.Signing.PrivateKey(rawRepresentation: try vector("blackboard_signing_private"))
        #expect(Array(signingKey.publicKey.x963Representation) == (try vector("blackboard_signing_public")))
        let signature = try vector("blackboard_signature")
        #expect(
            BlackboardSignature.isValid(signature, transcriptDigest: transcript.digest, publicKey: signingKey.publicKey)
        )
        #expect(
            !BlackboardSignature.isValid(
                signature, transcriptDigest: try vector("transcript_digest_abv"), publicKey: signingKey.publicKey))
        let fresh = try BlackboardSignature.sign(transcriptDigest: transcript.digest, with: signingKey)
        #expect(
            BlackboardSignature.isValid(fresh, transcriptDigest: transcript.digest, publicKey: signingKey.publicKey))
        #expect(
            Array(WireMessage.blackboardSignature(signature: signature).encoded().readableBytesView)
                == (try vector("signature_payload")))
        transcript.append(ByteBuffer(bytes: try vector("signature_payload")))
        #expect(transcript.digest == (try vector("transcript_digest_abv")))
    }

    /// The key schedule and both confirmations.
    @Test func keyScheduleVectors() throws {
        let digest = try vector("transcript_digest_abv")
        let prk = HKDF<SHA256>.extract(
            inputKeyMaterial: SymmetricKey(data: try vector("transported_secret") + (try vector("shared_secret"))),
            salt: digest)
        #expect(Array(prk) == (try vector("pseudorandom_key")))
        let schedule = SessionKeySchedule(
            transportedSecret: try vector("transported_secret"), sharedSecret: try vector("shared_secret"),
            transcriptDigest: digest)
        #expect(bytes(schedule.studentConfirmationKey) == (try vector("student_confirmation_key")))
        #expect(bytes(schedule.blackboardConfirmationKey) == (try vector("blackboard_confirmation_key")))
        #expect(bytes(schedule.studentMessageKey) == (try vector("student_message_key")))
        #expect(bytes(schedule.blackboardMessageKey) == (try vector("blackboard_message_key")))

        let student = KeyConfirmation.mac(
            key: schedule.studentConfirmationKey, label: KeyConfirmation.studentLabel, transcriptDigest: digest)
        #expect(student == (try vector("student_confirmation")))
        #expect(
            Array(WireMessage.keyConfirmation(mac: student).encoded().readableBytesView)
                == (try vector("key_confirmation_payload")))
        var transcript = HandshakeTranscript()
        for name in ["request_payload", "session_key_payload", "signature_payload", "key_confirmation_payload"] {
            transcript.append(ByteBuffer(bytes: try vector(name)))
        }
        #expect(transcript.digest == (try vector("transcript_digest_abvc")))
        let blackboard = KeyConfirmation.mac(
            key: schedule.blackboardConfirmationKey, label: KeyConfirmation.blackboardLabel,
            transcriptDigest: transcript.digest)
        #expect(blackboard == (try vector("blackboard_confirmation")))
        #expect(
            Array(WireMessage.sessionSecure(mac: blackboard).encoded().readableBytesView)
                == (try vector("session_secure_payload")))
    }

    /// Step 6's records, built by the Student's and Blackboard's record layers.
    @Test func recordVectors() throws {
        let schedule = SessionKeySchedule(
            transportedSecret: try vector("transported_secret"), sharedSecret: try vector("shared_secret"),
            transcriptDigest: try vector("transcript_digest_abv"))
        #expect(RecordProtection.nonce(direction: .studentToBlackboard, sequence: 1) == (try vector("message_1_nonce")))
        #expect(RecordProtection.associatedData(kind: .reportMessage, sequence: 1) == (try vector("message_1_aad")))

        var student = StudentRecordLayer(schedule: schedule)
        let (first, _) = student.seal(try vector("message_1_content"))
        #expect(Array(first.encoded().readableBytesView) == (try vector("message_1_payload")))
        guard case .reportMessage(_, let sealed) = first else { throw CampusError(.internalError, "not a message") }
        #expect(sealed == (try vector("message_1_sealed")))
        let (second, _) = student.seal(try vector("message_2_content"))
        guard case .reportMessage(_, let sealedSecond) = second else {
            throw CampusError(.internalError, "not a message")
        }
        #expect(sealedSecond == (try vector("message_2_sealed")))
        let end = student.end()
        #expect(Array(end.encoded().readableBytesView) == (try vector("end_payload")))
        guard case .endOfReport(3, let endSealed) = end else { throw CampusError(.internalError, "not the end") }
        #expect(endSealed == (try vector("end_sealed")))

        var blackboard = BlackboardRecordLayer(schedule: schedule)
        let opened = try blackboard.open(first, maximumMessageSize: 1024)
        #expect(opened == .message(sequence: 1, content: try vector("message_1_content"), sealed: sealed))
        let acknowledgement = blackboard.outgoing.acknowledgement(1)
        #expect(Array(acknowledgement.encoded().readableBytesView) == (try vector("ack_1_payload")))
        guard case .messageAcknowledged(_, let ackSealed) = acknowledgement else {
            throw CampusError(.internalError, "not an acknowledgement")
        }
        #expect(ackSealed == (try vector("ack_1_sealed")))

        let report = try vector("message_1_content") + (try vector("message_2_content"))
        #expect(Array(SHA256.hash(data: report)) == (try vector("report_sha256")))
        let document = try ReceiptDocument(
            studentID: "1155123456", certificateSerial: "0123456789abcdef", assignment: "a1",
            deadline: ReceiptDocument.parseTimestamp("2026-12-01T23:59:59Z"), report: 7, messageCount: 2,
            totalBytes: 42, contentSHA256: try vector("report_sha256"),
            committedAt: try #require(ReceiptDocument.parseTimestamp("2026-11-28T01:02:03Z")), isLate: false)
        #expect(document.canonicalBytes == (try vector("receipt_document")))
        guard
            case .receipt(3, let receiptSealed) = blackboard.outgoing.receipt(document.canonicalBytes, messageCount: 2)
        else { throw CampusError(.internalError, "not a receipt") }
        #expect(receiptSealed == (try vector("receipt_sealed")))
    }

    @Test func enrollmentCodeVectors() throws {
        let typed = String(decoding: try vector("enrollment_code_typed"), as: UTF8.self)
        let code = try #require(EnrollmentCode(typed))
        #expect(Array(code.canonical.utf8) == (try vector("enrollment_code_canonical")))
        #expect(code.hash == (try vector("enrollment_code_hash")))
    }

    static let cuhkPEM = "-----BEGIN CERTIFICATE-----\nQ1VISw==\n-----END CERTIFICATE-----\n"
    static let rootPEM = "-----BEGIN CERTIFICATE-----\nUk9PVA==\n-----END CERTIFICATE-----\n"
    static let csrPEM = "-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n"
    static let studentPEM = "-----BEGIN CERTIFICATE-----\nVEVTVA==\n-----END CERTIFICATE-----\n"

    /// The enrollment channel (section 4): the hello made by the Student's state machine, the offer, CUHK's
    /// signature, the transcript hashes and the two keys.
    @Test func enrollmentChannelVectors() throws {
        let studentShare = try Curve25519.KeyAgreement.PrivateKey(
            rawRepresentation: try vector("enrollment_student_x25519_private"))
        let cuhkShare = try Curve25519.KeyAgreement.PrivateKey(
            rawRepresentation: try vector("enrollment_cuhk_x25519_private"))
        #expect(Array(studentShare.publicKey.rawRepresentation) == (try vector("enrollment_student_share")))
        #expect(Array(cuhkShare.publicKey.rawRepresentation) == (try vector("enrollment_cuhk_share")))
        #expect(
            try SessionKeySchedule.sharedSecret(cuhkShare, peerShare: try vector("enrollment_student_share"))
                == (try vector("enrollment_shared_secret")))

        var student = StudentEnrollment(
            request: .enrollment(csrPEM: Self.csrPEM, code: nil), trust: .firstUse, keyShare: studentShare,
            nonce: try vector("enrollment_nonce"))
        let hello = try #require(student.start().messages.first)
        #expect(Array(hello.encoded().readableBytesView) == (try vector("enrollment_hello_payload")))
        let offer = WireMessage.enrollmentOffer(
            EnrollmentOffer(
                certificatePEM: Self.cuhkPEM, rootPEM: Self.rootPEM, keyShare: try vector("enrollment_cuhk_share")))
        #expect(Array(offer.encoded().readableBytesView) == (try vector("enrollment_offer_payload")))

        var transcript = HandshakeTranscript()
        transcript.append(ByteBuffer(bytes: try vector("enrollment_hello_payload")))
        transcript.append(ByteBuffer(bytes: try vector("enrollment_offer_payload")))
        #expect(transcript.digest == (try vector("enrollment_transcript_digest_ho")))
        #expect(
            AuthoritySignature.signedBytes(transcriptDigest: transcript.digest)
                == (try vector("enrollment_signed_bytes")))
        // ECDSA is randomized: the published signature is one to verify, with the published key.
        let signingKey = try P256.Signing.PrivateKey(
            rawRepresentation: try vector("enrollment_cuhk_signing_private"))
        #expect(Array(signingKey.publicKey.x963Representation) == (try vector("enrollment_cuhk_signing_public")))
        let signature = try vector("enrollment_cuhk_signature")
        #expect(
            AuthoritySignature.isValid(signature, transcriptDigest: transcript.digest, publicKey: signingKey.publicKey))
        // Blackboard's context string is another: the same bytes do not pass as Blackboard's signature.
        #expect(
            !BlackboardSignature.isValid(
                signature, transcriptDigest: transcript.digest, publicKey: signingKey.publicKey))
        #expect(
            Array(WireMessage.enrollmentSignature(signature: signature).encoded().readableBytesView)
                == (try vector("enrollment_signature_payload")))
        transcript.append(ByteBuffer(bytes: try vector("enrollment_signature_payload")))
        #expect(transcript.digest == (try vector("enrollment_transcript_digest_hov")))

        let prk = HKDF<SHA256>.extract(
            inputKeyMaterial: SymmetricKey(data: try vector("enrollment_shared_secret")), salt: transcript.digest)
        #expect(Array(prk) == (try vector("enrollment_pseudorandom_key")))
        let schedule = EnrollmentKeySchedule(
            sharedSecret: try vector("enrollment_shared_secret"), transcriptDigest: transcript.digest)
        #expect(bytes(schedule.studentKey) == (try vector("enrollment_student_key")))
        #expect(bytes(schedule.authorityKey) == (try vector("enrollment_authority_key")))
    }

    /// The sealed request (with the code's proof), the sealed renewal and the sealed answer.
    @Test func enrollmentRecordVectors() throws {
        let digest = try vector("enrollment_transcript_digest_hov")
        let schedule = EnrollmentKeySchedule(
            sharedSecret: try vector("enrollment_shared_secret"), transcriptDigest: digest)
        let code = try #require(EnrollmentCode("7K3QM9XA2C4RTV8HN5PW"))
        let csrDER = try vector("enrollment_csr_der")
        #expect(try PEMDocument(pemString: Self.csrPEM).derBytes == csrDER)
        let proof = EnrollmentCodeProof.make(code: code, transcriptDigest: digest, csrDER: csrDER)
        #expect(proof == (try vector("enrollment_code_proof")))
        #expect(
            EnrollmentCodeProof.isValid(
                proof, codeHash: try vector("enrollment_code_hash"), transcriptDigest: digest, csrDER: csrDER))
        // Bound to the channel and the CSR.
        #expect(
            !EnrollmentCodeProof.isValid(
                proof, codeHash: code.hash, transcriptDigest: try vector("enrollment_transcript_digest_ho"),
                csrDER: csrDER))
        #expect(!EnrollmentCodeProof.isValid(proof, codeHash: code.hash, transcriptDigest: digest, csrDER: [0x30, 0]))

        let body = EnrollmentRequestBody.enrollment(csrPEM: Self.csrPEM, proof: proof)
        #expect(body.encoded == (try vector("enrollment_request_plaintext")))
        let sealed = schedule.studentRecords.seal(body.encoded, kind: .enrollmentRequest, sequence: 1)
        #expect(sealed == (try vector("enrollment_request_sealed")))
        #expect(
            Array(WireMessage.enrollmentRequest(sequence: 1, sealed: sealed).encoded().readableBytesView)
                == (try vector("enrollment_request_payload")))
        #expect(try EnrollmentRequestBody.decode(body.encoded, kind: .enrollmentRequest) == body)

        #expect(
            RenewalProof.message(transcriptDigest: digest, csrDER: csrDER) == (try vector("renewal_signed_message")))
        let renewal = EnrollmentRequestBody.renewal(
            certificatePEM: Self.studentPEM, csrPEM: Self.csrPEM, signature: Array(repeating: 0x5a, count: 256))
        #expect(renewal.encoded == (try vector("renewal_request_plaintext")))
        let renewalSealed = schedule.studentRecords.seal(renewal.encoded, kind: .renewalRequest, sequence: 1)
        #expect(
            Array(WireMessage.renewalRequest(sequence: 1, sealed: renewalSealed).encoded().readableBytesView)
                == (try vector("renewal_request_payload")))

        let answer = schedule.authorityRecords.seal(
            Array(Self.studentPEM.utf8), kind: .enrollmentCertificate, sequence: 1)
        #expect(answer == (try vector("enrollment_certificate_sealed")))
        #expect(
            Array(WireMessage.enrollmentCertificate(sequence: 1, sealed: answer).encoded().readableBytesView)
                == (try vector("enrollment_certificate_payload")))
    }
}

/// The signed receipt of docs/PROTOCOL.md section 7.1 verifies, and reads back as the published document.
@Suite struct ReceiptVectorTests {
    static func block(_ name: String) -> String? {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/PROTOCOL.md").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let start = text.range(of: "```\(name)\n"),
            let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
        else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    /// Checked at its commit time, as if it were then: the chain must be valid at the time of the check, and the
    /// vector's certificate expires on 2027-11-01.
    static let checkedAt = ReceiptDocument.parseTimestamp("2026-11-28T01:02:03Z")!

    @Test func theDocumentsReceiptVerifies() async throws {
        let root = try Certificate(pemEncoded: try #require(Self.block("receipt-root")))
        let pem = try #require(Self.block("receipt-cms"))
        let der = try SignedReceipt.der(fromFile: Array(pem.utf8))
        let verified = try await SignedReceipt.verify(der, root: root, blackboardName: "blackboard", at: Self.checkedAt)
        #expect(verified.document.canonicalBytes == ProtocolVectorTests.vectors["receipt_document"])
        #expect(verified.signer.serialNumber == Certificate.SerialNumber(bytes: [0x02]))
        // One changed byte of the signed document, and it no longer verifies.
        var damaged = der
        let offset = try #require(damaged.firstRange(of: Array("report: 7".utf8))).upperBound - 1
        damaged[offset] = UInt8(ascii: "8")
        await #expect(throws: ReceiptError.self) {
            _ = try await SignedReceipt.verify(damaged, root: root, blackboardName: "blackboard", at: Self.checkedAt)
        }
        // After the certificate's end it is refused.
        await #expect(throws: ReceiptError.self) {
            _ = try await SignedReceipt.verify(
                der, root: root, blackboardName: "blackboard",
                at: try #require(ReceiptDocument.parseTimestamp("2027-11-02T00:00:00Z")))
        }
    }

    /// The signed attributes of section 7.1, byte for byte, and the ECDSA signature verifies over exactly them.
    @Test func theSignedAttributesAreTheDocumentsBytes() throws {
        let pem = try #require(Self.block("receipt-cms"))
        let der = try SignedReceipt.der(fromFile: Array(pem.utf8))
        let expected = try #require(Self.block("receipt-signed-attributes")).filter(\.isHexDigit)
        let attributes = try SignedReceipt.signedAttributes(of: der)
        #expect(attributes.hexString == expected.lowercased())
        // The signature is the receipt's last field: OCTET STRING (0x04) of 71 bytes (0x47), the DER ECDSA-Sig-Value.
        #expect(der[der.count - 73] == 0x04 && der[der.count - 72] == 0x47)
        let signatureBytes = Array(der.suffix(71))
        let signer = try #require(try CMSSignature(derEncoded: der).certificates.first)
        let key = try #require(P256.Signing.PublicKey(signer.publicKey))
        let signature = try P256.Signing.ECDSASignature(derRepresentation: signatureBytes)
        #expect(key.isValidSignature(signature, for: SHA256.hash(data: attributes)))
    }
}
