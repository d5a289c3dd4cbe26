import Foundation
import X509

/// What happens in a session, as typed values: the state machines emit them, and one observer
/// (``SessionObserver``) turns them into terminal lines and log entries.
///
/// Events carry public values only (sizes, fingerprints, the transcript hash, nonces, the first bytes of
/// ciphertexts). No event carries a secret or a derived key, so nothing that observes them can leak one.
public enum SessionEvent: Sendable {
    // Step 3.
    /// The Student sent `Request | Cert 2` with its key share.
    case requestSent(
        studentID: StudentID, assignment: String, certificateFingerprint: String, keyShare: [UInt8],
        nonce: [UInt8])
    /// Blackboard received a well-formed request.
    case requestReceived(
        studentID: StudentID, requestText: String, assignment: String, keyShare: [UInt8],
        nonce: [UInt8])
    /// Blackboard verified cert 2. The certificate rather than its fingerprint, so that the fingerprint is made only
    /// for a line that shows it; `indirect`, so that every event is not as large as a certificate.
    indirect case studentCertificateVerified(studentID: StudentID, serial: String, certificate: Certificate)

    // Step 4.
    /// Blackboard sent its certificate, key share and the encrypted secret, then its signature.
    case sessionKeySent(
        studentID: StudentID, assignment: String, encryptedSecret: [UInt8], keyShare: [UInt8],
        transcriptDigest: [UInt8], signature: [UInt8])
    /// The Student verified Blackboard's certificate and signature.
    case blackboardAuthenticated(
        name: String, serial: String, fingerprint: String, transcriptDigest: [UInt8],
        signature: [UInt8])
    /// The Student decrypted the transported secret with cert 2's key.
    case sessionKeyDecrypted(encryptedSecret: [UInt8], assignment: String, deadline: String)

    // Step 5.
    /// Both confirmations verified: the session is secure. `transcriptDigest` is what Blackboard's confirmation
    /// covers.
    case established(studentID: StudentID, sessionID: [UInt8], transcriptDigest: [UInt8])

    // Step 6.
    /// The Student sealed and sent a message.
    case messageSent(sequence: UInt64, content: [UInt8], sealed: [UInt8])
    /// Blackboard opened a message: its tag verified.
    case messageReceived(studentID: StudentID, sequence: UInt64, content: [UInt8], sealed: [UInt8])
    /// The Student received an authenticated acknowledgement.
    case messageAcknowledged(sequence: UInt64)
    /// Blackboard committed the report and signed its receipt.
    case receiptSigned(studentID: StudentID, document: ReceiptDocument, size: Int)
    /// The Student verified the receipt Blackboard signed.
    case receiptVerified(document: ReceiptDocument, size: Int)

    // What a server measures around the protocol (no terminal line; metrics and dashboards use them).
    /// A connection was accepted.
    case connectionOpened
    /// A connection ended.
    case connectionClosed
    /// Steps 3–5 ended: established (`refusal` nil) or refused with that code, after `duration`.
    case handshakeFinished(refusal: CampusError.Code?, duration: Duration)
    /// One durable commit stored `messages` messages of `bytes` bytes in `duration`.
    case committed(messages: Int, bytes: Int, duration: Duration)

    /// The seed step the event belongs to.
    public var step: SeedStep {
        switch self {
        case .requestSent, .requestReceived, .studentCertificateVerified: .verification
        case .sessionKeySent, .blackboardAuthenticated, .sessionKeyDecrypted: .sessionKey
        case .established: .confirmation
        case .messageSent, .messageReceived, .messageAcknowledged, .receiptSigned, .receiptVerified: .messages
        case .connectionOpened, .handshakeFinished: .verification
        case .connectionClosed, .committed: .messages
        }
    }
}
