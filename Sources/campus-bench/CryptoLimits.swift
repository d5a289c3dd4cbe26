import CampusPKI
import Crypto
import Foundation
import X509
import _CryptoExtras

/// The hardware limits the figures are compared to, measured in this process on this machine.
enum CryptoLimits {
    /// Runs `body` repeatedly for about `seconds` and returns operations per second.
    static func rate(seconds: Double, _ body: () throws -> Void) rethrows -> Double {
        var count = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            for _ in 0..<8 { try body() }
            count += 8
            elapsed = now() - start
        } while elapsed < seconds
        return Double(count) / elapsed
    }

    /// RSA signatures per second with the CA's algorithm (SHA-256 with RSA PKCS#1 v1.5), one thread.
    static func signingRate(key: _RSA.Signing.PrivateKey, seconds: Double) throws -> Double {
        let privateKey = Certificate.PrivateKey(key)
        let tbs = [UInt8](repeating: 0x42, count: 600)  // about a TBSCertificate
        return try rate(seconds: seconds) {
            _ = try privateKey.sign(bytes: tbs, signatureAlgorithm: .sha256WithRSAEncryption)
        }
    }

    /// Seconds of CPU for Blackboard's unavoidable cryptography in one version-2 handshake: verify cert 2's
    /// signature, make an X25519 key share and agree, RSA-OAEP-encrypt the secret, sign the transcript with ECDSA
    /// P-256, hash the transcript, derive the keys, compute and check the confirmations.
    static func handshakeFloor(certificate: Certificate, root: Certificate, seconds: Double) throws -> Double {
        let encryptionKey = try encryptionKey(of: certificate)
        let signingKey = P256.Signing.PrivateKey()
        let peerShare = Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation
        let transcriptBytes = [UInt8](repeating: 0x30, count: 2_400)
        let perSecond = try rate(seconds: seconds) {
            precondition(root.publicKey.isValidSignature(certificate.signature, for: certificate))
            let share = Curve25519.KeyAgreement.PrivateKey()
            let shared = try SessionKeySchedule.sharedSecret(share, peerShare: Array(peerShare))
            let secret = SessionKeySchedule.randomBytes(32)
            _ = try encryptionKey.encrypt(secret, padding: .PKCS1_OAEP_SHA256)
            let signed = Array(SHA256.hash(data: transcriptBytes))
            _ = try BlackboardSignature.sign(transcriptDigest: signed, with: signingKey)
            let digest = Array(SHA256.hash(data: transcriptBytes + [1]))
            let schedule = SessionKeySchedule(transportedSecret: secret, sharedSecret: shared, transcriptDigest: digest)
            let mac = KeyConfirmation.mac(
                key: schedule.studentConfirmationKey, label: KeyConfirmation.studentLabel, transcriptDigest: digest)
            precondition(
                KeyConfirmation.isValid(
                    mac, key: schedule.studentConfirmationKey, label: KeyConfirmation.studentLabel,
                    transcriptDigest: digest))
            _ = KeyConfirmation.mac(
                key: schedule.blackboardConfirmationKey, label: KeyConfirmation.blackboardLabel,
                transcriptDigest: digest)
        }
        return 1 / perSecond
    }

    /// The same for version 1, which CampusPKI no longer speaks but whose cryptography is reproduced here so both
    /// floors come from one run: verify cert 2, RSA-OAEP-encrypt the session key, two HKDF expansions, three MACs.
    static func versionOneHandshakeFloor(certificate: Certificate, root: Certificate, seconds: Double) throws -> Double
    {
        let encryptionKey = try encryptionKey(of: certificate)
        let transcriptBytes = [UInt8](repeating: 0x30, count: 1_600)
        let sessionID = [UInt8](repeating: 1, count: 16)
        let perSecond = try rate(seconds: seconds) {
            precondition(root.publicKey.isValidSignature(certificate.signature, for: certificate))
            let sessionKey = SymmetricKey(size: .bits256)
            _ = try sessionKey.withUnsafeBytes { try encryptionKey.encrypt($0, padding: .PKCS1_OAEP_SHA256) }
            let confirmationKey = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: sessionKey, salt: sessionID, info: Array("CampusPKI v1 key confirmation".utf8),
                outputByteCount: 32)
            _ = HKDF<SHA256>.deriveKey(
                inputKeyMaterial: sessionKey, salt: sessionID, info: Array("CampusPKI v1 message authentication".utf8),
                outputByteCount: 32)
            let digest = Array(SHA256.hash(data: transcriptBytes))
            let mac = HMAC<SHA256>.authenticationCode(for: digest, using: confirmationKey)
            precondition(HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: digest, using: confirmationKey))
            _ = HMAC<SHA256>.authenticationCode(for: digest + [1], using: confirmationKey)
        }
        return 1 / perSecond
    }

    /// Seconds of CPU for CUHK's unavoidable cryptography in one issuing over the enrollment channel: make an
    /// X25519 key share and agree with the Student's, hash the transcript (hello, offer with CUHK's certificate and
    /// the root, about 2,400 bytes) before and after signing it with ECDSA P-256, HKDF (extract, two expansions),
    /// open the sealed request, verify the CSR's own signature (RSA-2048), sign the certificate (RSA-2048, SHA-256)
    /// and seal it (about 1,400 bytes of PEM).
    static func issuingFloor(csrPEM: String, signingKey: _RSA.Signing.PrivateKey, seconds: Double) throws -> Double {
        let request = try CertificateSigningRequest(pemEncoded: csrPEM)
        let authorityKey = Certificate.PrivateKey(signingKey)
        let enrollmentKey = P256.Signing.PrivateKey()
        let peerShare = Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)
        let transcriptBytes = [UInt8](repeating: 0x30, count: 2_400)
        let tbs = [UInt8](repeating: 0x42, count: 700)  // about a student's TBSCertificate
        let certificatePEM = [UInt8](repeating: 0x41, count: 1_400)
        // The Student's sealed request, made once: the body holds the CSR's PEM.
        let sealer = EnrollmentKeySchedule(
            sharedSecret: SessionKeySchedule.randomBytes(32), transcriptDigest: SessionKeySchedule.randomBytes(32))
        let sealedRequest = sealer.studentRecords.seal(
            Array(csrPEM.utf8), kind: .enrollmentRequest, sequence: EnrollmentChannel.recordSequence)
        let perSecond = try rate(seconds: seconds) {
            let share = Curve25519.KeyAgreement.PrivateKey()
            let shared = try SessionKeySchedule.sharedSecret(share, peerShare: peerShare)
            let signed = Array(SHA256.hash(data: transcriptBytes))
            _ = try AuthoritySignature.sign(transcriptDigest: signed, with: enrollmentKey)
            let digest = Array(SHA256.hash(data: transcriptBytes + [1]))
            let schedule = EnrollmentKeySchedule(sharedSecret: shared, transcriptDigest: digest)
            // Opened with the sealer's key, as CUHK opens with its own copy of the same key.
            precondition(
                sealer.studentRecords.open(
                    sealedRequest, kind: .enrollmentRequest, sequence: EnrollmentChannel.recordSequence) != nil)
            precondition(request.publicKey.isValidSignature(request.signature, for: request))
            _ = try authorityKey.sign(bytes: tbs, signatureAlgorithm: .sha256WithRSAEncryption)
            _ = schedule.authorityRecords.seal(
                certificatePEM, kind: .enrollmentCertificate, sequence: EnrollmentChannel.recordSequence)
        }
        return 1 / perSecond
    }

    private static func encryptionKey(of certificate: Certificate) throws -> _RSA.Encryption.PublicKey {
        let rsa = _RSA.Signing.PublicKey(certificate.publicKey)!
        return try _RSA.Encryption.PublicKey(derRepresentation: rsa.derRepresentation)
    }

    /// ChaCha20-Poly1305 over messages of `size` bytes, sealed once and opened once as on the two sides of step 6,
    /// in messages per second, one thread.
    static func aeadRate(size: Int, seconds: Double) -> Double {
        let sealer = RecordProtection(key: SymmetricKey(size: .bits256), direction: .studentToBlackboard)
        let content = [UInt8](repeating: 0x61, count: size)
        var sequence: UInt64 = 0
        return rate(seconds: seconds) {
            sequence += 1
            let sealed = sealer.seal(content, kind: .reportMessage, sequence: sequence)
            precondition(sealer.open(sealed, kind: .reportMessage, sequence: sequence) != nil)
        }
    }

    /// SHA-256 over messages of `size` bytes, in messages per second, one thread: the report's digest, which the
    /// Student and Blackboard each take of every message's content.
    static func digestRate(size: Int, seconds: Double) -> Double {
        let content = [UInt8](repeating: 0x61, count: size)
        var digest = SHA256()
        let perSecond = rate(seconds: seconds) { digest.update(data: content) }
        _ = digest.finalize()
        return perSecond
    }

    /// HMAC-SHA256 throughput over messages of `size` bytes, in messages per second, one thread.
    static func hmacRate(size: Int, seconds: Double) -> Double {
        let key = SymmetricKey(size: .bits256)
        let content = [UInt8](repeating: 0x61, count: size)
        return rate(seconds: seconds) {
            _ = HMAC<SHA256>.authenticationCode(for: content, using: key)
        }
    }
}
