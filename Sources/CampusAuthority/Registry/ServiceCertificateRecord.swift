import Foundation

/// A service's certificate (Blackboard's), as the registry keeps it.
public struct ServiceCertificateRecord: Sendable, Hashable {
    /// The service's DNS name.
    public var name: String
    /// The serial number, lower-case hex.
    public var serial: String
    public var notValidBefore: Date
    public var notValidAfter: Date
    public var issuedAt: Date
    /// When and why it was revoked (`cuhk service revoke`), if it was.
    public var revocation: Revocation?

    public init(
        name: String, serial: String, notValidBefore: Date, notValidAfter: Date, issuedAt: Date,
        revocation: Revocation? = nil
    ) {
        self.name = name
        self.serial = serial
        self.notValidBefore = notValidBefore
        self.notValidAfter = notValidAfter
        self.issuedAt = issuedAt
        self.revocation = revocation
    }

    /// `valid`, `expired`, `not yet valid` or `revoked (reason)` at `time`.
    public func status(at time: Date = Date()) -> String {
        if let revocation { return "revoked (\(revocation.reason.rawValue))" }
        if time >= notValidAfter { return "expired" }
        if time < notValidBefore { return "not yet valid" }
        return "valid"
    }
}
