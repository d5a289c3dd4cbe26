import Crypto

/// The keys of one upload session, derived from the session key Blackboard sends in step 4.
///
/// The session key itself never keys a MAC: HKDF-SHA256 (salt = the session ID) derives one key for the
/// step-5 key confirmation and another for the step-6 message MACs, so a MAC of one kind can never stand in
/// for the other.
public struct SessionKeys: Sendable {
    /// Length of a session key, in bytes (256 bits).
    public static let sessionKeyLength = 32

    /// HKDF `info` for the key-confirmation key.
    public static let confirmationLabel = "CampusPKI v1 key confirmation"
    /// HKDF `info` for the message-MAC key.
    public static let messageLabel = "CampusPKI v1 message authentication"

    /// The key for step 5.
    public let confirmationKey: SymmetricKey
    /// The key for step 6.
    public let messageKey: SymmetricKey

    /// Derives both keys.
    ///
    /// - Parameters:
    ///   - sessionKey: The 32 random bytes Blackboard generated.
    ///   - sessionID: The 16-byte session ID from the step-4 message.
    public init(sessionKey: SymmetricKey, sessionID: [UInt8]) {
        confirmationKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: sessionKey,
            salt: sessionID,
            info: Array(Self.confirmationLabel.utf8),
            outputByteCount: 32
        )
        messageKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: sessionKey,
            salt: sessionID,
            info: Array(Self.messageLabel.utf8),
            outputByteCount: 32
        )
    }

    /// A fresh session key from the system's CSPRNG.
    public static func generateSessionKey() -> SymmetricKey {
        SymmetricKey(size: .bits256)
    }

    /// A fresh random session ID.
    public static func generateSessionID() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
