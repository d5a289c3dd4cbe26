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
    /// What authorized it.
    public var authorization: CertificateAuthorization
    /// Whether it traces back to an enrollment code: a code, or a renewal of a certificate that does. Set by the
    /// registry when it records the certificate; only these count as enrolled under a roster.
    public var isRosterAuthorized: Bool

    public init(
        serial: String,
        studentID: StudentID,
        notValidBefore: Date,
        notValidAfter: Date,
        pem: String,
        issuedAt: Date,
        revocation: Revocation? = nil,
        authorization: CertificateAuthorization = .unknown,
        isRosterAuthorized: Bool = false
    ) {
        self.revocation = revocation
        self.authorization = authorization
        self.isRosterAuthorized = isRosterAuthorized
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

    /// Whether it is valid at `time`: not revoked, not expired, not before its start.
    public func isValid(at time: Date = Date()) -> Bool {
        revocation == nil && time >= notValidBefore && time < notValidAfter
    }
}
