import Foundation
import X509

/// A timestamp token that passed every check of ``TimestampVerifier``.
public struct VerifiedTimestamp: Sendable, Hashable {
    /// When the TSA made the token, by its clock.
    public let generationTime: Date
    /// `genTime` as the token writes it, in ISO 8601 (`2026-11-28T01:02:03.5Z`).
    public let generationTimeText: String
    /// The token's serial, unique per TSA.
    public let serialNumber: [UInt8]
    /// The serial in lower-case hex.
    public var serialHex: String { serialNumber.hexString }
    /// How far the true time may be from ``generationTime``, if the TSA says.
    public let accuracy: TimestampAccuracy?
    public let policy: TimestampPolicy
    public let messageImprint: MessageImprint
    public let nonce: [UInt8]?
    /// The TSA certificate that signed it.
    public let signer: Certificate
}
