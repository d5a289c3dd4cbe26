import Crypto
import Foundation

/// The keys of one upload session (docs/PROTOCOL.md, "Key schedule").
///
/// Two secrets go in, and each alone is useless to an attacker:
///
/// * the **transported secret**: 32 bytes Blackboard encrypts to cert 2 with RSA-OAEP-SHA256 (the seed's session
///   key). Only the holder of cert 2's private key can read it, so a student who derives these keys proves who it
///   is;
/// * the **shared secret**: X25519 between the two ephemeral key shares. Both private halves are forgotten when the
///   session ends, so a recording of the session stays sealed even if the student's RSA key or Blackboard's
///   ECDSA key is stolen later (forward secrecy).
///
/// HKDF-SHA256 extracts a pseudorandom key from both, salted with the transcript hash (so the keys belong to this
/// handshake and no other), and expands it into four keys: one per direction and purpose.
public struct SessionKeySchedule: Sendable {
    /// Length of the transported secret, in bytes (256 bits).
    public static let secretLength = 32

    /// HKDF `info` labels, ASCII.
    public enum Label {
        public static let studentConfirmation = "CampusPKI v2 student confirmation key"
        public static let blackboardConfirmation = "CampusPKI v2 blackboard confirmation key"
        public static let studentMessages = "CampusPKI v2 student message key"
        public static let blackboardMessages = "CampusPKI v2 blackboard message key"
    }

    /// Keys the student's step-5 MAC.
    public let studentConfirmationKey: SymmetricKey
    /// Keys Blackboard's step-5 MAC.
    public let blackboardConfirmationKey: SymmetricKey
    /// Seals the student's step-6 messages and the end of the report.
    public let studentMessageKey: SymmetricKey
    /// Seals Blackboard's acknowledgements and the receipt.
    public let blackboardMessageKey: SymmetricKey

    /// Derives the four keys.
    ///
    /// - Parameters:
    ///   - transportedSecret: The 32 bytes carried by RSA-OAEP.
    ///   - sharedSecret: The X25519 shared secret (32 bytes).
    ///   - transcriptDigest: SHA-256 of the handshake through Blackboard's signature.
    public init(transportedSecret: [UInt8], sharedSecret: [UInt8], transcriptDigest: [UInt8]) {
        let pseudorandomKey = HKDF<SHA256>.extract(
            inputKeyMaterial: SymmetricKey(data: transportedSecret + sharedSecret), salt: transcriptDigest)
        func expand(_ label: String) -> SymmetricKey {
            HKDF<SHA256>.expand(pseudoRandomKey: pseudorandomKey, info: Array(label.utf8), outputByteCount: 32)
        }
        studentConfirmationKey = expand(Label.studentConfirmation)
        blackboardConfirmationKey = expand(Label.blackboardConfirmation)
        studentMessageKey = expand(Label.studentMessages)
        blackboardMessageKey = expand(Label.blackboardMessages)
    }

    /// The X25519 shared secret of `privateKey` and the peer's 32-byte share.
    ///
    /// - Throws: ``CampusError`` `malformed-message` when the share is not a usable X25519 public key (for example
    ///   a low-order point, whose shared secret is all zeros).
    public static func sharedSecret(
        _ privateKey: Curve25519.KeyAgreement.PrivateKey, peerShare: [UInt8]
    ) throws(CampusError) -> [UInt8] {
        do {
            let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peerShare)
            let secret = try privateKey.sharedSecretFromKeyAgreement(with: peer)
            let bytes = secret.withUnsafeBytes { Array($0) }
            guard bytes.contains(where: { $0 != 0 }) else {
                throw CampusError(.malformedMessage, "the X25519 key share is a low-order point")
            }
            return bytes
        } catch let error as CampusError {
            throw error
        } catch {
            throw CampusError(.malformedMessage, "the X25519 key share is not a valid public key", cause: error)
        }
    }

    /// `count` bytes from the system CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        // Eight bytes per draw from the system's generator, not one, so a handshake asks the kernel a few times.
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }
}

/// The step-5 MACs (docs/PROTOCOL.md, "Key confirmation").
///
/// HMAC-SHA256 over a label and a transcript hash, each side with its own key; checked in constant time.
public enum KeyConfirmation {
    /// The label of the student's confirmation.
    public static let studentLabel = "CampusPKI v2 student confirmation"
    /// The label of Blackboard's confirmation.
    public static let blackboardLabel = "CampusPKI v2 blackboard confirmation"

    /// HMAC-SHA256(key, label ‖ transcriptDigest).
    public static func mac(key: SymmetricKey, label: String, transcriptDigest: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(label.utf8) + transcriptDigest, using: key))
    }

    /// Whether `mac` is the confirmation for this transcript (constant-time comparison).
    public static func isValid(_ mac: [UInt8], key: SymmetricKey, label: String, transcriptDigest: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array(label.utf8) + transcriptDigest, using: key)
    }
}
