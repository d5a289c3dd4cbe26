import Crypto

/// The MACs of steps 5 and 6 (docs/PROTOCOL.md, "Key confirmation" and "Messages").
///
/// Verification goes through `HMAC.isValidAuthenticationCode`, which compares in constant time.
public struct SessionAuthenticator: Sendable {
    /// The label of the student's confirmation.
    public static let studentConfirmationLabel = "CampusPKI v1 student confirmation"
    /// The label of Blackboard's confirmation.
    public static let blackboardConfirmationLabel = "CampusPKI v1 blackboard confirmation"

    public let keys: SessionKeys

    public init(keys: SessionKeys) {
        self.keys = keys
    }

    /// The student's step-5 MAC: HMAC-SHA256(confirmation key, label ‖ SHA-256(transcript)).
    public func studentConfirmation(transcriptDigest: [UInt8]) -> [UInt8] {
        confirmation(label: Self.studentConfirmationLabel, transcriptDigest: transcriptDigest)
    }

    /// Blackboard's step-5 answer, over a transcript that includes the student's confirmation.
    public func blackboardConfirmation(transcriptDigest: [UInt8]) -> [UInt8] {
        confirmation(label: Self.blackboardConfirmationLabel, transcriptDigest: transcriptDigest)
    }

    /// Whether `mac` is the student's confirmation for this transcript.
    public func isValidStudentConfirmation(_ mac: [UInt8], transcriptDigest: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            mac,
            authenticating: Array(Self.studentConfirmationLabel.utf8) + transcriptDigest,
            using: keys.confirmationKey
        )
    }

    /// Whether `mac` is Blackboard's confirmation for this transcript.
    public func isValidBlackboardConfirmation(_ mac: [UInt8], transcriptDigest: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            mac,
            authenticating: Array(Self.blackboardConfirmationLabel.utf8) + transcriptDigest,
            using: keys.confirmationKey
        )
    }

    /// The step-6 MAC of a report message: HMAC-SHA256(message key, 0x14 ‖ sequence ‖ content).
    ///
    /// The sequence number is inside the MAC so a replayed, reordered or dropped message fails; the type byte
    /// keeps a message MAC from passing as the end-of-report MAC.
    public func messageMAC(sequence: UInt64, content: some Collection<UInt8>) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: keys.messageKey)
        Self.updateHeader(&hmac, kind: .reportMessage, sequence: sequence)
        hmac.update(data: Array(content))
        return Array(hmac.finalize())
    }

    /// Whether `mac` authenticates this message.
    public func isValidMessageMAC(_ mac: [UInt8], sequence: UInt64, content: [UInt8]) -> Bool {
        var hmac = HMAC<SHA256>(key: keys.messageKey)
        Self.updateHeader(&hmac, kind: .reportMessage, sequence: sequence)
        hmac.update(data: content)
        // `HashedAuthenticationCode == bytes` is swift-crypto's constant-time comparison.
        return hmac.finalize() == mac
    }

    /// The MAC that ends a report: HMAC-SHA256(message key, 0x16 ‖ sequence).
    public func endMAC(sequence: UInt64) -> [UInt8] {
        Array(
            HMAC<SHA256>.authenticationCode(
                for: Self.header(kind: .endOfReport, sequence: sequence), using: keys.messageKey))
    }

    /// Whether `mac` ends the report at `sequence`.
    public func isValidEndMAC(_ mac: [UInt8], sequence: UInt64) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(
            mac,
            authenticating: Self.header(kind: .endOfReport, sequence: sequence),
            using: keys.messageKey
        )
    }

    private func confirmation(label: String, transcriptDigest: [UInt8]) -> [UInt8] {
        Array(
            HMAC<SHA256>.authenticationCode(for: Array(label.utf8) + transcriptDigest, using: keys.confirmationKey)
        )
    }

    private static func header(kind: WireMessage.Kind, sequence: UInt64) -> [UInt8] {
        var bytes: [UInt8] = [kind.rawValue]
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: sequence >> shift)) }
        return bytes
    }

    private static func updateHeader(_ hmac: inout HMAC<SHA256>, kind: WireMessage.Kind, sequence: UInt64) {
        hmac.update(data: header(kind: kind, sequence: sequence))
    }
}
