import Foundation

/// What authorized CUHK to issue a student's certificate, as the registry records it.
///
/// Under a roster only certificates that trace back to an enrollment code count: a certificate taken while
/// enrollment was open (anyone could ask for any SID) says nothing about who holds it. Service certificates
/// (Blackboard's) are authorized by CUHK's operator and kept apart, in the registry's service certificates.
public enum CertificateAuthorization: Sendable, Hashable, CustomStringConvertible {
    /// Issued while CUHK ran with `--open-enrollment`, to whoever asked.
    case openEnrollment
    /// Paid for with a student's one-time enrollment code.
    case enrollmentCode
    /// A renewal, authorized by the certificate with this serial (lower-case hex); it inherits that certificate's
    /// standing.
    case renewal(of: String)
    /// Issued before CUHK recorded how (a registry from an earlier version), and not provably by a code.
    case unknown

    /// The form kept in `cuhk.db` and printed by `cuhk issued --json`: `open-enrollment`, `enrollment-code`,
    /// `renewal:<serial>` or `unknown`.
    public var stored: String {
        switch self {
        case .openEnrollment: "open-enrollment"
        case .enrollmentCode: "enrollment-code"
        case .renewal(let serial): "renewal:\(serial)"
        case .unknown: "unknown"
        }
    }

    /// Reads the stored form; anything else is ``unknown``.
    public init(stored: String) {
        switch stored {
        case "open-enrollment": self = .openEnrollment
        case "enrollment-code": self = .enrollmentCode
        case let text where text.hasPrefix("renewal:"): self = .renewal(of: String(text.dropFirst("renewal:".count)))
        default: self = .unknown
        }
    }

    /// `open enrollment`, `enrollment code`, `renewal of 5f0c…`, `unknown`.
    public var description: String {
        switch self {
        case .openEnrollment: "open enrollment"
        case .enrollmentCode: "enrollment code"
        case .renewal(let serial): "renewal of \(serial)"
        case .unknown: "unknown (issued before CUHK recorded it)"
        }
    }
}
