import CampusPKI
import Crypto
import Foundation
import Logging
import NIOCore
import X509

/// Seed steps 3–5 on Blackboard's side, for one connection.
///
/// 3. Receive `Request | Cert 2` and verify cert 2 against the trusted root and the request's SID.
/// 4. Send a fresh 256-bit session key, encrypted to cert 2 with RSA-OAEP-SHA256.
/// 5. Check the student's key confirmation, a MAC over the transcript. The original had the student send the
///    decrypted key back in the clear, handing the MAC key to anyone on the wire; a MAC proves the same
///    possession without revealing anything.
struct BlackboardHandshake {
    /// What the handshake established.
    struct Established {
        var studentID: StudentID
        var certificateSerial: String
        var sessionID: [UInt8]
        var authenticator: SessionAuthenticator
    }

    let roots: TrustedRootStore
    let minimumKeyBits: Int
    let revocation: RevocationPolicy.Mode
    let ocspCache: OCSPResponseCache
    let reporter: StepReporter

    /// How long one OCSP request may take.
    static let ocspTimeout = TimeAmount.seconds(5)

    func run(on frames: FrameChannel, logger: Logger) async throws -> Established {
        var transcript = HandshakeTranscript()

        // Step 3.
        let (request, requestPayload) = try await frames.receive()
        guard case .uploadRequest(let requestText, let certificatePEM) = request else {
            let hint = request.kind == .enrollmentRequest ? " (this is Blackboard; enrollment requests go to CUHK)" : ""
            throw CampusError(.unexpectedMessage, "expected an upload request, got \(request.kind.phrase)\(hint)")
        }
        transcript.append(requestPayload)
        let studentID = try UploadRequestText.studentID(in: requestText)
        reporter(.verification, "Get cert2 from Student \(studentID): \"\(requestText)\"")
        let root = try roots.currentRoot()
        // Verification runs in a child task: its deep async frames go with that task instead of staying in this
        // long-lived session task's allocator for as long as the session is open.
        // Step 3 also asks CUHK's OCSP responder (named in cert 2) whether cert 2 was revoked.
        let requester = OCSPHTTPRequester(client: .shared, cache: ocspCache, issuer: root, timeout: Self.ocspTimeout)
        let revocationPolicy = RevocationPolicy(mode: revocation, requester: requester, logger: logger)
        async let verified = StudentCertificateVerifier(
            root: root, minimumKeyBits: minimumKeyBits, revocation: revocationPolicy
        ).verify(certificatePEM: certificatePEM, for: studentID)
        let certificate = try await verified
        let serial = certificate.serialNumber.hex
        reporter(.verification, "Cert Check success! SID \(studentID), serial \(serial)")

        // Step 4.
        let sessionKey = SessionKeys.generateSessionKey()
        let sessionID = SessionKeys.generateSessionID()
        let encryptedKey = try SessionKeyTransport.encrypt(sessionKey, to: certificate)
        transcript.append(try await frames.send(.sessionKey(sessionID: sessionID, encryptedKey: encryptedKey)))
        reporter(.sessionKey, "Session key generated and encrypted to cert 2 (RSA-OAEP-SHA256); sent to \(studentID)")

        // Step 5.
        let authenticator = SessionAuthenticator(keys: SessionKeys(sessionKey: sessionKey, sessionID: sessionID))
        let (confirmation, confirmationPayload) = try await frames.receive()
        guard case .keyConfirmation(let mac) = confirmation else {
            throw CampusError(.unexpectedMessage, "expected a key confirmation, got \(confirmation.kind.phrase)")
        }
        guard authenticator.isValidStudentConfirmation(mac, transcriptDigest: transcript.digest) else {
            throw CampusError(
                .keyConfirmationFailed,
                "the key confirmation does not match: the student did not decrypt the session key, "
                    + "or the handshake was altered on the way"
            )
        }
        transcript.append(confirmationPayload)
        try await frames.send(
            .sessionSecure(mac: authenticator.blackboardConfirmation(transcriptDigest: transcript.digest)))
        reporter(.confirmation, "Session secure! SID \(studentID)")
        logger.info("session established", metadata: ["sid": "\(studentID)", "serial": "\(serial)"])
        return Established(
            studentID: studentID,
            certificateSerial: serial,
            sessionID: sessionID,
            authenticator: authenticator
        )
    }
}
