import Crypto
import Foundation
import NIOCore
import X509

/// Steps 3–5 on Blackboard's side, as a state machine: payloads in, messages and events out, no sockets.
///
/// ```
/// start ──request──▶ awaitingVerification ──offer(cert 2 verified, assignment)──▶ awaitingConfirmation
///                                                                 keyConfirmation ──▶ established
/// ```
///
/// Three inputs come from outside because they need I/O: Blackboard's own certificate and key (files), the verdict
/// on cert 2 (the chain, and CUHK's OCSP responder) and the assignment (Blackboard's database). The driver obtains
/// them and hands them in with ``offer(to:assignment:deadline:credentials:)``.
public struct BlackboardHandshake: Sendable {
    /// Blackboard's own certificate and key (`blackboard.cer`, `blackboard.key`).
    ///
    /// A class: every session signs with the same credentials, and keeps a reference rather than its own copy of
    /// the certificate.
    public final class Credentials: Sendable {
        public let certificate: Certificate
        public let certificatePEM: String
        public let privateKey: P256.Signing.PrivateKey

        public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) throws {
            self.certificate = certificate
            self.certificatePEM = try certificate.serializeAsPEM().text
            self.privateKey = privateKey
        }
    }

    /// What the handshake established.
    public struct Established: Sendable {
        public var studentID: StudentID
        public var certificateSerial: String
        public var sessionID: [UInt8]
        public var assignment: String
        /// Protection of step 6 in both directions.
        public var records: BlackboardRecordLayer
    }

    /// What one input produced.
    public struct Output: Sendable {
        public var messages: [WireMessage] = []
        public var events: [SessionEvent] = []
        public var established: Established?
    }

    /// The parsed request, for the driver to verify.
    public struct Request: Sendable {
        public var studentID: StudentID
        public var request: UploadRequest
    }

    private enum State: Sendable {
        case start
        case awaitingVerification(Request)
        case awaitingConfirmation(Established, schedule: SessionKeySchedule)
        case established
        case failed
    }

    private let keyShare: Curve25519.KeyAgreement.PrivateKey
    private let sessionID: [UInt8]
    private let secret: [UInt8]
    private var transcript = HandshakeTranscript()
    private var state = State.start

    /// - Parameter keyShare, sessionID, secret: Fresh from the CSPRNG unless a test fixes them.
    public init(
        keyShare: Curve25519.KeyAgreement.PrivateKey = .init(),
        sessionID: [UInt8] = SessionKeySchedule.randomBytes(WireMessage.sessionIDLength),
        secret: [UInt8] = SessionKeySchedule.randomBytes(SessionKeySchedule.secretLength)
    ) {
        self.keyShare = keyShare
        self.sessionID = sessionID
        self.secret = secret
    }

    /// Step 3: the first payload. Checks the request text and the assignment name; cert 2 is the driver's to verify.
    public mutating func receiveRequest(_ payload: ByteBuffer) throws(CampusError) -> (Request, [SessionEvent]) {
        guard case .start = state else {
            throw CampusError(.internalError, "the request was already received")
        }
        state = .failed
        let message = try Self.decode(payload)
        guard case .uploadRequest(let request) = message else {
            let hint =
                message.kind == .enrollmentHello ? " (this is Blackboard; enrollment requests go to CUHK)" : ""
            throw CampusError(.unexpectedMessage, "expected an upload request, got \(message.kind.phrase)\(hint)")
        }
        let studentID = try UploadRequestText.studentID(in: request.requestText)
        guard request.assignment.isEmpty || ReceiptDocument.isValidAssignmentName(request.assignment) else {
            throw CampusError(
                .malformedRequest,
                "the assignment name must be 1 to 64 letters, digits, '-', '_' or '.'; got \"\(request.assignment.prefix(80))\""
            )
        }
        transcript.append(payload)
        let parsed = Request(studentID: studentID, request: request)
        state = .awaitingVerification(parsed)
        return (
            parsed,
            [
                .requestReceived(
                    studentID: studentID, requestText: request.requestText, assignment: request.assignment,
                    keyShare: request.keyShare, nonce: request.nonce)
            ]
        )
    }

    /// Step 4, once cert 2 is verified and the assignment resolved: the offer and the signature.
    ///
    /// - Parameters:
    ///   - certificate: Cert 2, verified by the driver.
    ///   - assignment: The assignment's name.
    ///   - deadline: Its deadline, ISO-8601 UTC, or empty.
    ///   - credentials: Blackboard's certificate and key, which sign the handshake.
    public mutating func offer(
        to certificate: Certificate, assignment: String, deadline: String, credentials: Credentials
    ) throws(CampusError) -> Output {
        guard case .awaitingVerification(let request) = state else {
            throw CampusError(.internalError, "the offer comes after the request")
        }
        state = .failed
        let shared = try SessionKeySchedule.sharedSecret(keyShare, peerShare: request.request.keyShare)
        let encrypted = try SessionKeyTransport.encrypt(secret, to: certificate)
        let offer = WireMessage.sessionKey(
            SessionKeyOffer(
                sessionID: sessionID, certificatePEM: credentials.certificatePEM,
                keyShare: Array(keyShare.publicKey.rawRepresentation), encryptedSecret: encrypted,
                assignment: assignment, deadline: deadline))
        transcript.append(offer.encoded())
        let signedDigest = transcript.digest
        let signature: [UInt8]
        do {
            signature = try BlackboardSignature.sign(transcriptDigest: signedDigest, with: credentials.privateKey)
        } catch {
            throw CampusError(.internalError, "the handshake could not be signed", cause: error)
        }
        let signatureMessage = WireMessage.blackboardSignature(signature: signature)
        transcript.append(signatureMessage.encoded())
        let schedule = SessionKeySchedule(
            transportedSecret: secret, sharedSecret: shared, transcriptDigest: transcript.digest)
        let established = Established(
            studentID: request.studentID, certificateSerial: certificate.serialNumber.hex, sessionID: sessionID,
            assignment: assignment, records: BlackboardRecordLayer(schedule: schedule))
        state = .awaitingConfirmation(established, schedule: schedule)
        return Output(
            messages: [offer, signatureMessage],
            events: [
                .studentCertificateVerified(
                    studentID: request.studentID, serial: certificate.serialNumber.hex, certificate: certificate),
                .sessionKeySent(
                    studentID: request.studentID, assignment: assignment, encryptedSecret: encrypted,
                    keyShare: Array(keyShare.publicKey.rawRepresentation), transcriptDigest: signedDigest,
                    signature: signature),
            ])
    }

    /// Step 5: the student's key confirmation, answered with Blackboard's.
    public mutating func receiveConfirmation(_ payload: ByteBuffer) throws(CampusError) -> Output {
        guard case .awaitingConfirmation(let established, let schedule) = state else {
            throw CampusError(.internalError, "the key confirmation comes after the offer")
        }
        state = .failed
        let message = try Self.decode(payload)
        guard case .keyConfirmation(let mac) = message else {
            throw CampusError(.unexpectedMessage, "expected a key confirmation, got \(message.kind.phrase)")
        }
        guard
            KeyConfirmation.isValid(
                mac, key: schedule.studentConfirmationKey, label: KeyConfirmation.studentLabel,
                transcriptDigest: transcript.digest)
        else {
            throw CampusError(
                .keyConfirmationFailed,
                "the key confirmation does not match: the student could not read the session key, "
                    + "or the handshake was altered on the way")
        }
        transcript.append(payload)
        let digest = transcript.digest
        let secure = WireMessage.sessionSecure(
            mac: KeyConfirmation.mac(
                key: schedule.blackboardConfirmationKey, label: KeyConfirmation.blackboardLabel,
                transcriptDigest: digest))
        state = .established
        return Output(
            messages: [secure],
            events: [
                .established(
                    studentID: established.studentID, sessionID: established.sessionID, transcriptDigest: digest)
            ],
            established: established)
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
