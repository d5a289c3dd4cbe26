import CampusPKI
import Foundation

/// One timestamp token CUHK issued, as its registry keeps it.
public struct TimestampRecord: Sendable, Hashable {
    /// The token's serial, lower-case hex.
    public var serial: String
    /// `genTime` (to the millisecond).
    public var generationTime: Date
    public var hashAlgorithm: TimestampHashAlgorithm
    /// The message imprint's digest.
    public var imprint: [UInt8]
    /// The serial of the TSA certificate that signed it, lower-case hex.
    public var authoritySerial: String

    public init(
        serial: String, generationTime: Date, hashAlgorithm: TimestampHashAlgorithm, imprint: [UInt8],
        authoritySerial: String
    ) {
        self.serial = serial
        self.generationTime = generationTime
        self.hashAlgorithm = hashAlgorithm
        self.imprint = imprint
        self.authoritySerial = authoritySerial
    }
}
