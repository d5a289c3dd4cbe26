import Crypto
import Foundation

/// What the Student sends in place of its one-time enrollment code: proof that it knows the code, bound to this
/// channel and this CSR (docs/PROTOCOL.md section 4.5).
///
/// `proof = HMAC-SHA256(key = SHA-256(canonical code), "CampusPKI v2 enrollment code" ‖ TH_hov ‖ SHA-256(CSR DER))`
///
/// The key is what CUHK stores for the code, so CUHK checks a proof without ever holding the code. The transcript
/// hash holds both fresh key shares, so a proof relayed into another channel (by someone who stands between the
/// Student and CUHK) fails there; the CSR's digest keeps the proof from paying for another key. The code's 100 bits
/// make guessing it back from a proof hopeless.
public enum EnrollmentCodeProof {
    /// The label, ASCII.
    public static let label = "CampusPKI v2 enrollment code"
    /// Length of a proof, in bytes.
    public static let length = 32

    /// The bytes the HMAC covers.
    public static func message(transcriptDigest: [UInt8], csrDER: [UInt8]) -> [UInt8] {
        Array(label.utf8) + transcriptDigest + Array(SHA256.hash(data: csrDER))
    }

    /// The proof, keyed with the code's hash (``EnrollmentCode/hash``).
    public static func make(codeHash: [UInt8], transcriptDigest: [UInt8], csrDER: [UInt8]) -> [UInt8] {
        Array(
            HMAC<SHA256>.authenticationCode(
                for: message(transcriptDigest: transcriptDigest, csrDER: csrDER), using: SymmetricKey(data: codeHash)))
    }

    /// The proof of `code`.
    public static func make(code: EnrollmentCode, transcriptDigest: [UInt8], csrDER: [UInt8]) -> [UInt8] {
        make(codeHash: code.hash, transcriptDigest: transcriptDigest, csrDER: csrDER)
    }

    /// Whether `proof` is the proof for the code whose hash is `codeHash` (constant-time comparison).
    public static func isValid(_ proof: [UInt8], codeHash: [UInt8], transcriptDigest: [UInt8], csrDER: [UInt8])
        -> Bool
    {
        HMAC<SHA256>.isValidAuthenticationCode(
            proof, authenticating: message(transcriptDigest: transcriptDigest, csrDER: csrDER),
            using: SymmetricKey(data: codeHash))
    }
}
