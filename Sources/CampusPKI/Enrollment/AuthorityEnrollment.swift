import Crypto
import Foundation
import NIOCore
import SwiftASN1
import X509

/// Seed steps 1–2 on CUHK's side, as a state machine: payloads in, messages and events out, no sockets.
///
/// ```
/// start ──hello──▶ awaitingRequest ──sealed request──▶ awaitingDecision ──answer(cert 2)──▶ done
///        (offer, signature out)                                             (sealed cert 2 out)
/// ```
///
/// Whether the request earns a certificate (the CSR's rules, the code's proof, the renewal's proof, the throttle) is
/// CUHK's authority's to decide: the driver hands the request to it and the certificate back with
/// ``answer(certificatePEM:)``.
public struct AuthorityEnrollment: Sendable {
    /// CUHK's enrollment certificate and its key.
    public struct Credentials: Sendable {
        public var certificate: Certificate
        public var certificatePEM: String
        public var privateKey: P256.Signing.PrivateKey

        public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) throws {
            self.certificate = certificate
            self.certificatePEM = try certificate.serializeAsPEM().text
            self.privateKey = privateKey
        }
    }

    /// The Student's request, opened, with the transcript hash its proof must cover.
    public struct Request: Sendable {
        public var body: EnrollmentRequestBody
        /// TH_hov, which the code proof or the renewal proof covers.
        public var transcriptDigest: [UInt8]
    }

    /// What one input produced.
    public struct Output: Sendable {
        public var messages: [WireMessage] = []
        public var events: [EnrollmentEvent] = []
    }

    private enum State: Sendable {
        case start
        case awaitingRequest(schedule: EnrollmentKeySchedule, transcriptDigest: [UInt8])
        case awaitingDecision(schedule: EnrollmentKeySchedule)
        case done
        case failed
    }

    private let credentials: Credentials
    private let rootPEM: String
    private let keyShare: Curve25519.KeyAgreement.PrivateKey
    private var transcript = HandshakeTranscript()
    private var state = State.start

    /// - Parameters:
    ///   - credentials: CUHK's enrollment certificate and key.
    ///   - rootPEM: The root that issued it (`cuhk.cer`).
    ///   - keyShare: Fresh from the CSPRNG unless a test fixes it.
    public init(credentials: Credentials, rootPEM: String, keyShare: Curve25519.KeyAgreement.PrivateKey = .init()) {
        self.credentials = credentials
        self.rootPEM = rootPEM
        self.keyShare = keyShare
    }

    /// The hello: answered with the offer and CUHK's signature.
    public mutating func receiveHello(_ payload: ByteBuffer) throws(CampusError) -> Output {
        guard case .start = state else { throw CampusError(.internalError, "the hello was already received") }
        state = .failed
        let message = try Self.decode(payload)
        guard case .enrollmentHello(let hello) = message else {
            let hint = message.kind == .uploadRequest ? " (this is CUHK; upload requests go to Blackboard)" : ""
            throw CampusError(
                .unexpectedMessage, "expected an enrollment hello, got \(message.kind.phrase)\(hint)")
        }
        // Checked before anything is signed: a low-order share would give an all-zero secret.
        let shared = try SessionKeySchedule.sharedSecret(keyShare, peerShare: hello.keyShare)
        transcript.append(payload)
        let offer = WireMessage.enrollmentOffer(
            EnrollmentOffer(
                certificatePEM: credentials.certificatePEM, rootPEM: rootPEM,
                keyShare: Array(keyShare.publicKey.rawRepresentation)))
        transcript.append(offer.encoded())
        let signedDigest = transcript.digest
        let signature: [UInt8]
        do {
            signature = try AuthoritySignature.sign(transcriptDigest: signedDigest, with: credentials.privateKey)
        } catch {
            throw CampusError(.internalError, "the server could not complete the request", cause: error)
        }
        let signatureMessage = WireMessage.enrollmentSignature(signature: signature)
        transcript.append(signatureMessage.encoded())
        let digest = transcript.digest
        state = .awaitingRequest(
            schedule: EnrollmentKeySchedule(sharedSecret: shared, transcriptDigest: digest), transcriptDigest: digest)
        return Output(
            messages: [offer, signatureMessage],
            events: [
                .helloReceived(keyShare: hello.keyShare, nonce: hello.nonce),
                .offerSent(
                    serial: credentials.certificate.serialNumber.hex,
                    keyShare: Array(keyShare.publicKey.rawRepresentation), transcriptDigest: signedDigest,
                    signatureSize: signature.count),
            ])
    }

    /// The Student's sealed request, opened and read.
    public mutating func receiveRequest(_ payload: ByteBuffer) throws(CampusError) -> (Request, [EnrollmentEvent]) {
        guard case .awaitingRequest(let schedule, let digest) = state else {
            throw CampusError(.internalError, "the request comes after the hello")
        }
        state = .failed
        let message = try Self.decode(payload)
        let sequence: UInt64
        let sealed: [UInt8]
        switch message {
        case .enrollmentRequest(let number, let bytes), .renewalRequest(let number, let bytes):
            (sequence, sealed) = (number, bytes)
        default:
            throw CampusError(
                .unexpectedMessage, "expected an enrollment or renewal request, got \(message.kind.phrase)")
        }
        guard let plaintext = schedule.studentRecords.open(sealed, kind: message.kind, sequence: sequence) else {
            throw CampusError(
                .messageAuthenticationFailed,
                "the request does not open with the channel's key: it was changed on the way, or sealed for "
                    + "another channel")
        }
        guard sequence == EnrollmentChannel.recordSequence else {
            throw CampusError(
                .outOfOrderMessage, "the request carries the sequence number \(sequence); it must be 1")
        }
        let body = try EnrollmentRequestBody.decode(plaintext, kind: message.kind)
        state = .awaitingDecision(schedule: schedule)
        let csrDigest =
            (try? PEMDocument.parse(
                body.csrPEM, expecting: CertificateSigningRequest.defaultPEMDiscriminator)).map {
                Array(SHA256.hash(data: $0.derBytes))
            }
        return (
            Request(body: body, transcriptDigest: digest),
            [.requestReceived(kind: message.kind, csrDigest: csrDigest, sealedSize: sealed.count)]
        )
    }

    /// Step 2: cert 2, sealed.
    public mutating func answer(certificatePEM: String) -> Output {
        guard case .awaitingDecision(let schedule) = state else { preconditionFailure("answer() follows the request") }
        state = .done
        let sequence = EnrollmentChannel.recordSequence
        return Output(
            messages: [
                .enrollmentCertificate(
                    sequence: sequence,
                    sealed: schedule.authorityRecords.seal(
                        Array(certificatePEM.utf8), kind: .enrollmentCertificate, sequence: sequence))
            ])
    }

    private static func decode(_ payload: ByteBuffer) throws(CampusError) -> WireMessage {
        do {
            return try WireMessage.decode(payload)
        } catch let error as CampusError {
            throw error
        } catch {
            throw CampusError(.malformedMessage, "the message cannot be read", cause: error)
        }
    }
}
