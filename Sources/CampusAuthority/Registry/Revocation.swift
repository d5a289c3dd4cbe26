import Foundation

/// Why CUHK revoked a certificate: the RFC 5280 `CRLReason` values CampusPKI uses.
public enum RevocationReason: String, Sendable, Hashable, CaseIterable {
    /// The student's key may be known to someone else (a lost laptop).
    case keyCompromise
    /// The student left the course or the department.
    case affiliationChanged
    /// A newer certificate replaces it (a new enrollment, a renewal).
    case superseded
    /// The certificate is no longer needed.
    case cessationOfOperation
    /// No reason given. OCSP answers then carry no reason code, as RFC 5280 section 5.3.1 asks.
    case unspecified

    /// The `CRLReason` code (RFC 5280 section 5.3.1).
    public var code: Int {
        switch self {
        case .keyCompromise: 1
        case .affiliationChanged: 3
        case .superseded: 4
        case .cessationOfOperation: 5
        case .unspecified: 0
        }
    }
}

/// When and why a certificate was revoked.
public struct Revocation: Sendable, Hashable {
    public var time: Date
    public var reason: RevocationReason

    public init(time: Date, reason: RevocationReason) {
        self.time = time
        self.reason = reason
    }
}

/// What the registry says of a serial number.
public enum CertificateStatus: Sendable, Hashable {
    /// Issued by this CA and not revoked (it may still have expired).
    case good(IssuedCertificate)
    /// Issued by this CA and revoked.
    case revoked(IssuedCertificate, Revocation)
    /// Never issued by this CA.
    case unknown
}
