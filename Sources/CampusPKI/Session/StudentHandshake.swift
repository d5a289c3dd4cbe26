import Crypto
import Foundation
import NIOCore
import X509
import _CryptoExtras

/// Steps 3–5 on the Student's side, as a state machine: payloads in, messages and events out, no sockets.
///
/// ```
/// start ──request──▶ awaitingOffer ──sessionKey──▶ awaitingSignature ──signature──▶ awaitingSecure
///                                                        (keyConfirmation out)            │
///                                                                        sessionSecure ──▶ established
/// ```
///
/// Every check of docs/PROTOCOL.md's "The Student's checks of step 4" happens here, in that order, before the
/// Student has sent anything but its request: a peer that fails one never sees a byte of the report.
public struct StudentHandshake {
    /// Why the handshake ended.
    public enum Failure: Error, Sendable {
        /// Blackboard sent an error frame.
        case refused(CampusError)
        /// The peer could not prove it is Blackboard.
        case notAuthenticated(BlackboardAuthenticationError)
        /// The peer answered something the protocol does not allow here.
        case invalidResponse(String)
    }

    /// What the handshake established.
    public struct Established: Sendable {
        public var sessionID: [UInt8]
        public var blackboardCertificate: Certificate
        /// The assignment Blackboard files the report under, and its deadline (empty when none).
        public var assignment: String
        public var deadline: String
        /// Protection of step 6 in both directions.
        public var records: StudentRecordLayer
    }

    /// What one input produced.
    public struct Output: Sendable {
        /// Messages to send, in order.
        public var messages: [WireMessage] = []
        public var events: [SessionEvent] = []
        /// Set once the session is secure.
        public var established: Established?
    }

    private enum State {
        case start
        case awaitingOffer
        case awaitingSignature(
            offer: SessionKeyOffer, certificate: Certificate, key: P256.Signing.PublicKey,
            secret: [UInt8])
        case awaitingSecure(Established, confirmationKey: SymmetricKey)
        case established
        case failed
    }

    public let studentID: StudentID
    private let certificatePEM: String
    private let certificateFingerprint: String
    private let decryptionKey: _RSA.Encryption.PrivateKey
    private let assignment: String
    private let verifier: BlackboardCertificateVerifier
    private let now: @Sendable () -> Date
    private let keyShare: Curve25519.KeyAgreement.PrivateKey
    private let nonce: [UInt8]
    private var transcript = HandshakeTranscript()
    private var state = State.start

    /// - Parameters:
    ///   - studentID: The SID in the request text.
    ///   - certificate: Cert 2.
    ///   - decryptionKey: Cert 2's private key, which reads the transported secret.
    ///   - assignment: The assignment to submit to; empty for Blackboard's only open one.
    ///   - verifier: The pinned CUHK root and Blackboard's expected name.
    ///   - now: The clock for validity checks.
    ///   - keyShare: The ephemeral X25519 key; fresh unless a test fixes it.
    ///   - nonce: 32 bytes; fresh from the CSPRNG unless a test fixes them.
    public init(
        studentID: StudentID,
        certificate: Certificate,
        decryptionKey: _RSA.Encryption.PrivateKey,
        assignment: String,
        verifier: BlackboardCertificateVerifier,
        now: @escaping @Sendable () -> Date = { Date() },
        keyShare: Curve25519.KeyAgreement.PrivateKey = .init(),
        nonce: [UInt8] = SessionKeySchedule.randomBytes(WireMessage.nonceLength)
    ) throws {
        self.studentID = studentID
        self.certificatePEM = try certificate.serializeAsPEM().text
        self.certificateFingerprint = certificate.sha256Fingerprint
        self.decryptionKey = decryptionKey
        self.assignment = assignment
        self.verifier = verifier
        self.now = now
        self.keyShare = keyShare
        self.nonce = nonce
    }

    /// Step 3: the request.
    public mutating func start() -> Output {
        precondition(Self.isStart(state), "start() is the first input")
        let request = UploadRequest(
            requestText: UploadRequestText.make(for: studentID),
            certificatePEM: certificatePEM,
            assignment: assignment,
            keyShare: Array(keyShare.publicKey.rawRepresentation),
            nonce: nonce
        )
        let message = WireMessage.uploadRequest(request)
        transcript.append(message.encoded())
        state = .awaitingOffer
        return Output(
            messages: [message],
            events: [
                .requestSent(
                    studentID: studentID, assignment: assignment, certificateFingerprint: certificateFingerprint,
                    keyShare: request.keyShare, nonce: nonce)
            ])
    }

    /// Steps 4 and 5: one payload from Blackboard.
    public mutating func receive(_ payload: ByteBuffer) async throws(Failure) -> Output {
        let message: WireMessage
        do {
            message = try WireMessage.decode(payload)
        } catch let error as CampusError {
            state = .failed
            throw .invalidResponse("Blackboard's answer cannot be read: \(error.reason)")
        } catch {
            state = .failed
            throw .invalidResponse("Blackboard's answer cannot be read")
        }
        if case .error(let error) = message {
            state = .failed
            throw .refused(error)
        }
        do {
            return try await handle(message, payload: payload)
        } catch {
            state = .failed
            throw error
        }
    }

    private mutating func handle(_ message: WireMessage, payload: ByteBuffer) async throws(Failure) -> Output {
        switch (state, message) {
        case (.awaitingOffer, .sessionKey(let offer)):
            let (certificate, key): (Certificate, P256.Signing.PublicKey)
            do {
                (certificate, key) = try await verifier.verify(certificatePEM: offer.certificatePEM, at: now())
            } catch {
                throw .notAuthenticated(error)
            }
            guard let secret = SessionKeyTransport.decrypt(offer.encryptedSecret, with: decryptionKey) else {
                throw .invalidResponse(
                    "the session key cannot be decrypted with this student's key to 32 bytes")
            }
            transcript.append(payload)
            state = .awaitingSignature(offer: offer, certificate: certificate, key: key, secret: secret)
            return Output()

        case (.awaitingSignature(let offer, let certificate, let key, let secret), .blackboardSignature(let signature)):
            let signedDigest = transcript.digest
            guard BlackboardSignature.isValid(signature, transcriptDigest: signedDigest, publicKey: key) else {
                throw .notAuthenticated(
                    .init(
                        .signature,
                        "the signature over the handshake does not verify with the key of Blackboard's certificate "
                            + "(serial \(certificate.serialNumber.hex))"))
            }
            transcript.append(payload)
            let shared: [UInt8]
            do {
                shared = try SessionKeySchedule.sharedSecret(keyShare, peerShare: offer.keyShare)
            } catch {
                throw .invalidResponse("Blackboard's key share is not a usable X25519 key")
            }
            let schedule = SessionKeySchedule(
                transportedSecret: secret, sharedSecret: shared, transcriptDigest: transcript.digest)
            let confirmation = WireMessage.keyConfirmation(
                mac: KeyConfirmation.mac(
                    key: schedule.studentConfirmationKey, label: KeyConfirmation.studentLabel,
                    transcriptDigest: transcript.digest))
            transcript.append(confirmation.encoded())
            let established = Established(
                sessionID: offer.sessionID,
                blackboardCertificate: certificate,
                assignment: offer.assignment,
                deadline: offer.deadline,
                records: StudentRecordLayer(schedule: schedule)
            )
            state = .awaitingSecure(established, confirmationKey: schedule.blackboardConfirmationKey)
            return Output(
                messages: [confirmation],
                events: [
                    .blackboardAuthenticated(
                        name: verifier.expectedName, serial: certificate.serialNumber.hex,
                        fingerprint: certificate.sha256Fingerprint, transcriptDigest: signedDigest,
                        signature: signature),
                    .sessionKeyDecrypted(
                        encryptedSecret: offer.encryptedSecret, assignment: offer.assignment, deadline: offer.deadline),
                ])

        case (.awaitingSecure(let established, let key), .sessionSecure(let mac)):
            let digest = transcript.digest
            guard
                KeyConfirmation.isValid(
                    mac, key: key, label: KeyConfirmation.blackboardLabel, transcriptDigest: digest)
            else {
                throw .notAuthenticated(
                    .init(.confirmation, "Blackboard's key confirmation does not verify over the handshake"))
            }
            state = .established
            return Output(
                events: [
                    .established(studentID: studentID, sessionID: established.sessionID, transcriptDigest: digest)
                ],
                established: established)

        default:
            throw .invalidResponse("Blackboard sent \(message.kind.phrase) \(expecting)")
        }
    }

    private var expecting: String {
        switch state {
        case .start: "before the request"
        case .awaitingOffer: "instead of its certificate and the session key"
        case .awaitingSignature: "instead of its signature"
        case .awaitingSecure: "instead of its key confirmation"
        case .established, .failed: "after the handshake ended"
        }
    }

    private static func isStart(_ state: State) -> Bool {
        if case .start = state { return true }
        return false
    }
}
