import CampusPKI
import X509

/// The CSR's subject names exactly one student: one CN, and it is a 10-digit student ID.
///
/// The original issued certificates with an empty subject, so nothing tied a certificate to an ID.
public struct StudentSubjectRule: IssuingRule {
    public init() {}

    public func evaluate(_ request: CertificateSigningRequest) -> CampusError? {
        let names = request.subject.commonNames
        guard names.count == 1 else {
            return CampusError(.invalidSubject, "the CSR subject must have exactly one CN; it has \(names.count)")
        }
        guard StudentID(names[0]) != nil else {
            return CampusError(.invalidSubject, "the CSR's CN \"\(names[0])\" is not a 10-digit student ID")
        }
        return nil
    }
}
