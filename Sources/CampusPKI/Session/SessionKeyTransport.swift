import Crypto
import X509
import _CryptoExtras

/// Seed step 4: the session key (the transported secret), encrypted to cert 2's public key.
///
/// RSA-OAEP with SHA-256, not the original's PKCS#1 v1.5, whose padding oracle (Bleichenbacher) lets an
/// attacker who can watch a server's reactions decrypt a key.
public enum SessionKeyTransport {
    /// Encrypts `secret` to the certificate's RSA key with RSA-OAEP-SHA256.
    public static func encrypt(_ secret: [UInt8], to certificate: Certificate) throws(CampusError) -> [UInt8] {
        guard let signingKey = _RSA.Signing.PublicKey(certificate.publicKey) else {
            throw CampusError(.unsupportedKeyAlgorithm, "the certificate's key is not RSA")
        }
        do {
            let key = try _RSA.Encryption.PublicKey(derRepresentation: signingKey.derRepresentation)
            return Array(try key.encrypt(secret, padding: .PKCS1_OAEP_SHA256))
        } catch {
            throw CampusError(.internalError, "the session key could not be encrypted to cert 2", cause: error)
        }
    }

    /// Decrypts the secret with cert 2's private key; `nil` unless it yields exactly 32 bytes.
    public static func decrypt(_ encrypted: [UInt8], with key: _RSA.Encryption.PrivateKey) -> [UInt8]? {
        guard let plain = try? key.decrypt(encrypted, padding: .PKCS1_OAEP_SHA256),
            plain.count == SessionKeySchedule.secretLength
        else { return nil }
        return Array(plain)
    }
}
