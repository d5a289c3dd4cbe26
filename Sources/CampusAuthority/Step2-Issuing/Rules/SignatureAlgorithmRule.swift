import CampusPKI
import X509

/// The CSR is signed with SHA-256 or stronger (the original's root signed with SHA-1).
public struct SignatureAlgorithmRule: IssuingRule {
    public static let accepted: Set<Certificate.SignatureAlgorithm> = [
        .sha256WithRSAEncryption, .sha384WithRSAEncryption, .sha512WithRSAEncryption,
    ]

    public init() {}

    public func evaluate(_ request: CertificateSigningRequest) -> CampusError? {
        guard Self.accepted.contains(request.signatureAlgorithm) else {
            return CampusError(
                .weakSignatureAlgorithm,
                "the CSR is signed with \(request.signatureAlgorithm); SHA-256 with RSA or stronger is required"
            )
        }
        return nil
    }
}
