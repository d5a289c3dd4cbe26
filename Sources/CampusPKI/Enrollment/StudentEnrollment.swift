import Crypto
import Foundation
import NIOCore
import SwiftASN1
import X509
import _CryptoExtras

/// Seed steps 1–2 on the Student's side, as a state machine: payloads in, messages and events out, no sockets.
///
/// ```
/// start ──hello──▶ awaitingOffer ──offer──▶ awaitingSignature ──signature──▶ awaitingCertificate ──cert 2──▶ done
///                                                               (sealed request out)
/// ```
///
/// Every check of docs/PROTOCOL.md's "The Student's checks of CUHK's offer" happens before the sealed request leaves:
/// a peer that is not CUHK, or a CUHK whose root is not the one the Student trusts, never sees the CSR or the proof
/// of the code, so no code is used by a failed attempt.
public struct StudentEnrollment {
    /// Why the enrollment ended.
    public enum Failure: Error, Sendable {
        /// CUHK sent an error frame.
        case refused(CampusError)
        /// The peer could not prove it is CUHK, or its root is not the trusted one.
        case notAuthenticated(AuthorityAuthenticationError)
        /// The peer answered something the protocol does not allow here.
        case invalidResponse(String)
    }

    /// What the Student asks for.
    public enum Request: Sendable {
        /// A certificate for the CSR's key, paid for with the enrollment code (none with open enrollment).
        case enrollment(csrPEM: String, code: EnrollmentCode?)
        /// A certificate for the CSR's new key, authorized by the current certificate's key.
        case renewal(csrPEM: String, certificatePEM: String, key: _RSA.Signing.PrivateKey)

        var csrPEM: String {
            switch self {
            case .enrollment(let csrPEM, _), .renewal(let csrPEM, _, _): csrPEM
            }
        }
    }

    /// The root the Student accepted, reported with the sealed request: a caller pins a root it did not have before
    /// sending that request.
    public struct Authenticated: Sendable {
        public var root: Certificate
        public var source: RootTrust.Source
        public var authorityCertificate: Certificate
    }

    /// What one input produced.
    public struct Output: Sendable {
        /// Messages to send, in order.
        public var messages: [WireMessage] = []
        public var events: [EnrollmentEvent] = []
        /// Set with the sealed request, once CUHK is authenticated.
        public var authenticated: Authenticated?
        /// Cert 2, PEM, once received and checked against the root and the CSR's key.
        public var certificatePEM: String?
    }

    private enum State {
        case start
        case awaitingOffer
        case awaitingSignature(offer: EnrollmentOffer, authenticated: Authenticated, key: P256.Signing.PublicKey)
        case awaitingCertificate(schedule: EnrollmentKeySchedule, root: Certificate)
        case done
        case failed
    }

    private let request: Request
    private let trust: RootTrust
    private let expectedName: String
    private let now: @Sendable () -> Date
    private let keyShare: Curve25519.KeyAgreement.PrivateKey
    private let nonce: [UInt8]
    private var transcript = HandshakeTranscript()
    private var state = State.start

    /// - Parameters:
    ///   - request: What to ask CUHK for.
    ///   - trust: Which root CUHK's certificate must chain to.
    ///   - expectedName: The DNS name CUHK's certificate must carry.
    ///   - now: The clock for validity checks.
    ///   - keyShare: The ephemeral X25519 key; fresh unless a test fixes it.
    ///   - nonce: 32 bytes; fresh from the CSPRNG unless a test fixes them.
    public init(
        request: Request,
        trust: RootTrust,
        expectedName: String = EnrollmentChannel.authorityName,
        now: @escaping @Sendable () -> Date = { Date() },
        keyShare: Curve25519.KeyAgreement.PrivateKey = .init(),
        nonce: [UInt8] = SessionKeySchedule.randomBytes(WireMessage.nonceLength)
    ) {
        self.request = request
        self.trust = trust
        self.expectedName = expectedName
        self.now = now
        self.keyShare = keyShare
        self.nonce = nonce
    }

    /// The hello.
    public mutating func start() -> Output {
        guard case .start = state else { preconditionFailure("start() is the first input") }
        let hello = EnrollmentHello(keyShare: Array(keyShare.publicKey.rawRepresentation), nonce: nonce)
        let message = WireMessage.enrollmentHello(hello)
        transcript.append(message.encoded())
        state = .awaitingOffer
        return Output(messages: [message], events: [.helloSent(keyShare: hello.keyShare, nonce: nonce)])
    }

    /// One payload from CUHK.
    public mutating func receive(_ payload: ByteBuffer) async throws(Failure) -> Output {
        let message: WireMessage
        do {
            message = try WireMessage.decode(payload)
        } catch let error as CampusError {
            state = .failed
            throw .invalidResponse("CUHK's answer cannot be read: \(error.reason)")
        } catch {
            state = .failed
            throw .invalidResponse("CUHK's answer cannot be read")
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
        case (.awaitingOffer, .enrollmentOffer(let offer)):
            let sent: Certificate
            do {
                sent = try Certificate(pemText: offer.rootPEM)
            } catch {
                throw .notAuthenticated(.init(.root, "the root CUHK sent is not a valid PEM X.509 certificate"))
            }
            let root = try accept(sent)
            let (certificate, key): (Certificate, P256.Signing.PublicKey)
            do {
                (certificate, key) = try await AuthorityCertificateVerifier(
                    root: root.certificate, expectedName: expectedName
                )
                .verify(certificatePEM: offer.certificatePEM, at: now())
            } catch {
                throw .notAuthenticated(error)
            }
            transcript.append(payload)
            state = .awaitingSignature(
                offer: offer,
                authenticated: Authenticated(
                    root: root.certificate, source: root.source, authorityCertificate: certificate),
                key: key)
            return Output()

        case (.awaitingSignature(let offer, let authenticated, let key), .enrollmentSignature(let signature)):
            let signedDigest = transcript.digest
            guard AuthoritySignature.isValid(signature, transcriptDigest: signedDigest, publicKey: key) else {
                throw .notAuthenticated(
                    .init(
                        .signature,
                        "the signature over the handshake does not verify with the key of CUHK's certificate (serial "
                            + "\(authenticated.authorityCertificate.serialNumber.hex))"))
            }
            transcript.append(payload)
            let shared: [UInt8]
            do {
                shared = try SessionKeySchedule.sharedSecret(keyShare, peerShare: offer.keyShare)
            } catch {
                throw .invalidResponse("CUHK's key share is not a usable X25519 key")
            }
            let digest = transcript.digest
            let schedule = EnrollmentKeySchedule(sharedSecret: shared, transcriptDigest: digest)
            let csrDER =
                (try? PEMDocument.parse(
                    request.csrPEM, expecting: CertificateSigningRequest.defaultPEMDiscriminator
                ).derBytes)
                ?? Array(request.csrPEM.utf8)
            let body: EnrollmentRequestBody
            switch request {
            case .enrollment(let csrPEM, let code):
                body = .enrollment(
                    csrPEM: csrPEM,
                    proof: code.map {
                        EnrollmentCodeProof.make(code: $0, transcriptDigest: digest, csrDER: csrDER)
                    } ?? [])
            case .renewal(let csrPEM, let certificatePEM, let currentKey):
                let proof: [UInt8]
                do {
                    proof = try RenewalProof.sign(transcriptDigest: digest, csrDER: csrDER, with: currentKey)
                } catch {
                    throw .invalidResponse("the renewal proof could not be signed with the current key")
                }
                body = .renewal(certificatePEM: certificatePEM, csrPEM: csrPEM, signature: proof)
            }
            let sequence = EnrollmentChannel.recordSequence
            let sealed = schedule.studentRecords.seal(body.encoded, kind: body.kind, sequence: sequence)
            let message: WireMessage =
                body.kind == .renewalRequest
                ? .renewalRequest(sequence: sequence, sealed: sealed)
                : .enrollmentRequest(sequence: sequence, sealed: sealed)
            state = .awaitingCertificate(schedule: schedule, root: authenticated.root)
            var withProof = false
            if case .enrollment(_, let code) = request { withProof = code != nil }
            return Output(
                messages: [message],
                events: [
                    .authorityAuthenticated(
                        serial: authenticated.authorityCertificate.serialNumber.hex,
                        fingerprint: authenticated.authorityCertificate.sha256Fingerprint,
                        rootFingerprint: authenticated.root.sha256Fingerprint, source: authenticated.source,
                        keyShare: offer.keyShare, transcriptDigest: signedDigest, signatureSize: signature.count),
                    .requestSent(
                        kind: body.kind, csrDigest: Array(SHA256.hash(data: csrDER)), withCodeProof: withProof,
                        sealedSize: sealed.count),
                ],
                authenticated: authenticated)

        case (.awaitingCertificate(let schedule, let root), .enrollmentCertificate(let sequence, let sealed)):
            guard sequence == EnrollmentChannel.recordSequence,
                let plaintext = schedule.authorityRecords.open(sealed, kind: .enrollmentCertificate, sequence: sequence)
            else {
                throw .invalidResponse("CUHK's sealed answer does not open with the channel's key")
            }
            guard let certificatePEM = String(validating: plaintext, as: UTF8.self) else {
                throw .invalidResponse("CUHK's answer is not a PEM certificate")
            }
            let certificate = try await check(certificatePEM, root: root)
            state = .done
            var renewing: String?
            if case .renewal(_, let current, _) = request {
                renewing = (try? Certificate(pemEncoded: current))?.serialNumber.hex
            }
            return Output(
                events: [
                    .certificateReceived(
                        serial: certificate.serialNumber.hex, fingerprint: certificate.sha256Fingerprint,
                        notAfter: certificate.notValidAfter, renewing: renewing)
                ],
                certificatePEM: certificatePEM)

        default:
            throw .invalidResponse("CUHK sent \(message.kind.phrase) \(expecting)")
        }
    }

    /// The root to hold CUHK's certificate to, decided by ``trust`` from the root CUHK sent.
    private func accept(_ sent: Certificate) throws(Failure) -> (certificate: Certificate, source: RootTrust.Source) {
        switch trust {
        case .pinned(let pinned, let path):
            guard pinned == sent else {
                throw .notAuthenticated(
                    .init(
                        .root,
                        "CUHK sent the root \(sent.sha256Fingerprint), but this Student trusts the root "
                            + "\(pinned.sha256Fingerprint) (\(path))"))
            }
            return (pinned, .pinned(path: path))
        case .fingerprint(let expected):
            guard RootFingerprint(of: sent) == expected else {
                throw .notAuthenticated(
                    .init(
                        .root,
                        "CUHK sent the root \(sent.sha256Fingerprint), not the root \(expected) given with "
                            + "--root-fingerprint"))
            }
            return (sent, .fingerprint)
        case .firstUse:
            return (sent, .firstUse)
        }
    }

    /// Cert 2 must chain to the root, be for the CSR's student ID and hold the CSR's key.
    private func check(_ certificatePEM: String, root: Certificate) async throws(Failure) -> Certificate {
        guard let csr = try? CertificateSigningRequest(pemText: request.csrPEM),
            let studentID = csr.subject.studentID
        else {
            throw .invalidResponse("CUHK issued a certificate for a CSR this Student cannot read")
        }
        let certificate: Certificate
        do {
            certificate = try await StudentCertificateVerifier(root: root).verify(
                certificatePEM: certificatePEM, for: studentID, at: now())
        } catch let error as CampusError {
            throw .invalidResponse(
                "CUHK's certificate fails verification against the root \(root.sha256Fingerprint): \(error.reason)")
        } catch {
            throw .invalidResponse("CUHK's certificate fails verification against the root \(root.sha256Fingerprint)")
        }
        guard certificate.publicKey == csr.publicKey else {
            throw .invalidResponse("CUHK's certificate is not for this student's key")
        }
        return certificate
    }

    private var expecting: String {
        switch state {
        case .start: "before the hello"
        case .awaitingOffer: "instead of its certificate and key share"
        case .awaitingSignature: "instead of its signature"
        case .awaitingCertificate: "instead of the certificate"
        case .done, .failed: "after the enrollment ended"
        }
    }
}
