import CampusPKI
import Foundation

/// One certificate CUHK issued, as the registry keeps it.
public struct IssuedCertificate: Sendable, Hashable {
    /// The serial number, lower-case hex.
    public var serial: String
    /// The student it was issued to.
    public var studentID: StudentID
    public var notValidBefore: Date
    public var notValidAfter: Date
    /// The certificate, PEM.
    public var pem: String
    /// When CUHK signed it.
    public var issuedAt: Date
    /// When and why it was revoked, if it was.
    public var revocation: Revocation?

    public init(
        serial: String,
        studentID: StudentID,
        notValidBefore: Date,
        notValidAfter: Date,
        pem: String,
        issuedAt: Date,
        revocation: Revocation? = nil
    ) {
        self.revocation = revocation
        self.serial = serial
        self.studentID = studentID
        self.notValidBefore = notValidBefore
        self.notValidAfter = notValidAfter
        self.pem = pem
        self.issuedAt = issuedAt
    }
}

extension IssuedCertificate {
    /// `valid`, `expired`, `not yet valid` or `revoked (reason)` at `time`.
    public func status(at time: Date = Date()) -> String {
        if let revocation { return "revoked (\(revocation.reason.rawValue))" }
        if time >= notValidAfter { return "expired" }
        if time < notValidBefore { return "not yet valid" }
        return "valid"
    }
}
