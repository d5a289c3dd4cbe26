import Crypto
import Foundation

/// CUHK's proof that it holds its enrollment certificate's key, as Blackboard's in step 4 (TLS 1.3's
/// CertificateVerify): ECDSA P-256 / SHA-256 over a context string, one zero byte and the transcript hash of the
/// hello and the offer. The hello carries the Student's fresh key share and nonce, so a signature is worthless in any
/// other channel; the context string differs from Blackboard's, so neither signature passes for the other.
public enum AuthoritySignature {
    /// The context string, ASCII.
    public static let context = "CampusPKI v2 enrollment signature"

    /// What is signed: context ‖ 0x00 ‖ transcriptDigest.
    public static func signedBytes(transcriptDigest: [UInt8]) -> [UInt8] {
        Array(context.utf8) + [0] + transcriptDigest
    }

    /// The DER-encoded ECDSA signature.
    public static func sign(transcriptDigest: [UInt8], with key: P256.Signing.PrivateKey) throws -> [UInt8] {
        Array(try key.signature(for: signedBytes(transcriptDigest: transcriptDigest)).derRepresentation)
    }

    /// Whether `signature` (DER) is CUHK's over this transcript.
    public static func isValid(_ signature: [UInt8], transcriptDigest: [UInt8], publicKey: P256.Signing.PublicKey)
        -> Bool
    {
        guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
        return publicKey.isValidSignature(parsed, for: signedBytes(transcriptDigest: transcriptDigest))
    }
}
