import CampusPKI
import Crypto
import Foundation
import NIOCore
import Testing

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
        #expect(Self.vectors.count == 24)
    }

    @Test func handshakeVectors() throws {
        let sessionKey = SymmetricKey(data: try vector("session_key"))
        let sessionID = try vector("session_id")
        #expect(sessionID.count == 16)

        let request = WireMessage.uploadRequest(
            requestText: "SID:1155123456 requests to upload report !",
            certificatePEM: "-----BEGIN CERTIFICATE-----\nVEVTVA==\n-----END CERTIFICATE-----\n"
        ).encoded()
        #expect(Array(request.readableBytesView) == (try vector("request_payload")))
        let sessionKeyMessage = WireMessage.sessionKey(
            sessionID: sessionID,
            encryptedKey: Array(repeating: 0x5a, count: 256)
        ).encoded()
        #expect(Array(sessionKeyMessage.readableBytesView) == (try vector("session_key_payload")))

        var transcript = HandshakeTranscript()
        transcript.append(request)
        transcript.append(sessionKeyMessage)
        #expect(transcript.digest == (try vector("transcript_digest_1")))

        let keys = SessionKeys(sessionKey: sessionKey, sessionID: sessionID)
        #expect(keys.confirmationKey.withUnsafeBytes { Array($0) } == (try vector("confirmation_key")))
        #expect(keys.messageKey.withUnsafeBytes { Array($0) } == (try vector("message_key")))

        let authenticator = SessionAuthenticator(keys: keys)
        let studentMAC = authenticator.studentConfirmation(transcriptDigest: transcript.digest)
        #expect(studentMAC == (try vector("student_confirmation")))
        #expect(authenticator.isValidStudentConfirmation(studentMAC, transcriptDigest: transcript.digest))
        let confirmation = WireMessage.keyConfirmation(mac: studentMAC).encoded()
        #expect(Array(confirmation.readableBytesView) == (try vector("key_confirmation_payload")))

        transcript.append(confirmation)
        #expect(transcript.digest == (try vector("transcript_digest_2")))
        let blackboardMAC = authenticator.blackboardConfirmation(transcriptDigest: transcript.digest)
        #expect(blackboardMAC == (try vector("blackboard_confirmation")))
    }

    @Test func messageVectors() throws {
        let keys = SessionKeys(
            sessionKey: SymmetricKey(data: try vector("session_key")), sessionID: try vector("session_id"))
        let authenticator = SessionAuthenticator(keys: keys)
        let first = try vector("message_1_content")
        let second = try vector("message_2_content")
        #expect(first == Array("This is No.1 Message.".utf8))
        #expect(authenticator.messageMAC(sequence: 1, content: first) == (try vector("message_1_mac")))
        #expect(authenticator.messageMAC(sequence: 2, content: second) == (try vector("message_2_mac")))
        #expect(authenticator.isValidMessageMAC(try vector("message_1_mac"), sequence: 1, content: first))
        #expect(!authenticator.isValidMessageMAC(try vector("message_1_mac"), sequence: 2, content: first))
        #expect(try vector("end_sequence") == [0, 0, 0, 0, 0, 0, 0, 3])
        #expect(authenticator.endMAC(sequence: 3) == (try vector("end_mac")))
        #expect(Array(SHA256.hash(data: first + second)) == (try vector("receipt_digest")))
    }

    @Test func enrollmentCodeAndRenewalVectors() throws {
        let typed = String(decoding: try vector("enrollment_code_typed"), as: UTF8.self)
        let code = try #require(EnrollmentCode(typed))
        #expect(Array(code.canonical.utf8) == (try vector("enrollment_code_canonical")))
        #expect(code.hash == (try vector("enrollment_code_hash")))
        #expect(
            RenewalProof.message(nonce: try vector("renewal_nonce"), csrDER: try vector("renewal_csr_der"))
                == (try vector("renewal_signed_message")))
    }
}
