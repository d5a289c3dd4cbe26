import CampusPKI
import Crypto
import X509
import _CryptoExtras

/// Seed step 4: the session key, encrypted to cert 2's public key.
///
/// RSA-OAEP with SHA-256, not the original's PKCS#1 v1.5, whose padding oracle (Bleichenbacher) lets an
/// attacker who can watch a server's reactions decrypt a key.
public enum SessionKeyTransport {
    /// Encrypts `sessionKey` to the certificate's RSA key.
    public static func encrypt(_ sessionKey: SymmetricKey, to certificate: Certificate) throws -> [UInt8] {
        guard let signingKey = _RSA.Signing.PublicKey(certificate.publicKey) else {
            throw CampusError(.unsupportedKeyAlgorithm, "the certificate's key is not RSA")
        }
        let key = try _RSA.Encryption.PublicKey(derRepresentation: signingKey.derRepresentation)
        return Array(try sessionKey.withUnsafeBytes { try key.encrypt($0, padding: .PKCS1_OAEP_SHA256) })
    }
}
