import Foundation

/// What happens in an enrollment (seed steps 1–2), as typed values: the state machines and CUHK's handler emit them,
/// and ``EnrollmentObserver`` turns them into terminal lines and log entries.
///
/// Events carry public values only (key shares, nonces, fingerprints, the transcript hash, digests and sizes). No
/// event carries the code, a proof, a private key or a derived key, so nothing that observes them can show one.
public enum EnrollmentEvent: Sendable {
    // The Student's side.
    /// The Student opened the channel.
    case helloSent(keyShare: [UInt8], nonce: [UInt8])
    /// CUHK's certificate chains to the trusted root and its signature over the hello and the offer verifies.
    case authorityAuthenticated(
        serial: String, fingerprint: String, rootFingerprint: String, source: RootTrust.Source, keyShare: [UInt8],
        transcriptDigest: [UInt8], signatureSize: Int)
    /// The Student sent its sealed request.
    case requestSent(kind: WireMessage.Kind, csrDigest: [UInt8], withCodeProof: Bool, sealedSize: Int)
    /// The Student opened CUHK's sealed answer and checked cert 2.
    case certificateReceived(serial: String, fingerprint: String, notAfter: Date, renewing: String?)

    // CUHK's side.
    /// CUHK received a hello.
    case helloReceived(keyShare: [UInt8], nonce: [UInt8])
    /// CUHK sent its certificate, the root and its key share, and signed the transcript.
    case offerSent(serial: String, keyShare: [UInt8], transcriptDigest: [UInt8], signatureSize: Int)
    /// CUHK opened the Student's sealed request.
    case requestReceived(kind: WireMessage.Kind, csrDigest: [UInt8]?, sealedSize: Int)
    /// CUHK issued cert 2 (and, for a renewal, superseded `renewing`) and sent it sealed.
    case certificateIssued(studentID: StudentID, serial: String, renewing: String?, authorization: String)

    /// The seed step the event belongs to.
    public var step: SeedStep {
        switch self {
        case .helloSent, .authorityAuthenticated, .requestSent, .helloReceived, .offerSent, .requestReceived: .request
        case .certificateReceived, .certificateIssued: .certificate
        }
    }
}
