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

    /// Seconds of CPU for Blackboard's unavoidable cryptography in one handshake: verify cert 2's signature,
    /// RSA-OAEP-encrypt the session key, derive the keys, hash the transcript, compute and check the MACs.
    static func handshakeFloor(certificate: Certificate, root: Certificate, seconds: Double) throws -> Double {
        let rsa = _RSA.Signing.PublicKey(certificate.publicKey)!
        let encryptionKey = try _RSA.Encryption.PublicKey(derRepresentation: rsa.derRepresentation)
        let transcriptBytes = [UInt8](repeating: 0x30, count: 1_600)
        let perSecond = try rate(seconds: seconds) {
            precondition(root.publicKey.isValidSignature(certificate.signature, for: certificate))
            let sessionKey = SymmetricKey(size: .bits256)
            _ = try sessionKey.withUnsafeBytes { try encryptionKey.encrypt($0, padding: .PKCS1_OAEP_SHA256) }
            let authenticator = SessionAuthenticator(
                keys: SessionKeys(sessionKey: sessionKey, sessionID: Array(repeating: 1, count: 16)))
            let digest = Array(SHA256.hash(data: transcriptBytes))
            let mac = authenticator.studentConfirmation(transcriptDigest: digest)
            precondition(authenticator.isValidStudentConfirmation(mac, transcriptDigest: digest))
            _ = authenticator.blackboardConfirmation(transcriptDigest: digest)
        }
        return 1 / perSecond
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
