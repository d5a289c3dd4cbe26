import Crypto
import Foundation

/// The two keys of one enrollment channel (docs/PROTOCOL.md section 4.4).
///
/// HKDF-SHA256 extracts a pseudorandom key from the X25519 shared secret, salted with the transcript hash of the
/// hello, the offer and CUHK's signature (so the keys belong to this channel and no other), and expands it into one
/// key per direction. Both X25519 keys are made for this channel only, so a recording stays sealed even if CUHK's
/// keys are stolen later.
public struct EnrollmentKeySchedule: Sendable {
    /// HKDF `info` labels, ASCII.
    public enum Label {
        public static let student = "CampusPKI v2 enrollment student key"
        public static let authority = "CampusPKI v2 enrollment authority key"
    }

    /// Seals the Student's request.
    public let studentKey: SymmetricKey
    /// Seals CUHK's answer.
    public let authorityKey: SymmetricKey

    /// - Parameters:
    ///   - sharedSecret: X25519 of the two key shares (32 bytes).
    ///   - transcriptDigest: TH_hov, SHA-256 of the hello, the offer and the signature frames.
    public init(sharedSecret: [UInt8], transcriptDigest: [UInt8]) {
        let pseudorandomKey = HKDF<SHA256>.extract(
            inputKeyMaterial: SymmetricKey(data: sharedSecret), salt: transcriptDigest)
        func expand(_ label: String) -> SymmetricKey {
            HKDF<SHA256>.expand(pseudoRandomKey: pseudorandomKey, info: Array(label.utf8), outputByteCount: 32)
        }
        studentKey = expand(Label.student)
        authorityKey = expand(Label.authority)
    }

    /// Protection of the Student's record.
    public var studentRecords: RecordProtection { RecordProtection(key: studentKey, direction: .studentToAuthority) }
    /// Protection of CUHK's record.
    public var authorityRecords: RecordProtection {
        RecordProtection(key: authorityKey, direction: .authorityToStudent)
    }
}
