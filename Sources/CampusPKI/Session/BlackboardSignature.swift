import Crypto
import Foundation

/// Step 4's proof that Blackboard holds its certificate's key, as TLS 1.3's CertificateVerify.
///
/// Blackboard signs, with ECDSA P-256 and SHA-256, the context string, one zero byte and the transcript hash of
/// steps 3 and 4 (the request, which carries the student's fresh key share and nonce, and Blackboard's offer). A
/// signature made for one handshake is worthless in any other, and the context string keeps it from meaning
/// anything outside CampusPKI.
public enum BlackboardSignature {
    /// The context string, ASCII.
    public static let context = "CampusPKI v2 blackboard signature"

    /// What is signed: context ‖ 0x00 ‖ transcriptDigest.
    public static func signedBytes(transcriptDigest: [UInt8]) -> [UInt8] {
        Array(context.utf8) + [0] + transcriptDigest
    }

    /// The DER-encoded ECDSA signature.
    public static func sign(transcriptDigest: [UInt8], with key: P256.Signing.PrivateKey) throws -> [UInt8] {
        Array(try key.signature(for: signedBytes(transcriptDigest: transcriptDigest)).derRepresentation)
    }

    /// Whether `signature` (DER) is Blackboard's over this transcript.
    public static func isValid(_ signature: [UInt8], transcriptDigest: [UInt8], publicKey: P256.Signing.PublicKey)
        -> Bool
    {
        guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
        return publicKey.isValidSignature(parsed, for: signedBytes(transcriptDigest: transcriptDigest))
    }
}
