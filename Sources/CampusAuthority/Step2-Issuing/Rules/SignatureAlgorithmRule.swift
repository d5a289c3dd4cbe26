import CampusPKI
import X509

/// The CSR is signed with SHA-256 or stronger (the original's root signed with SHA-1).
///
/// ECDSA signatures pass this rule so that an EC key is refused for what it is (`unsupported-key-algorithm`,
/// by ``MinimumKeySizeRule``) rather than for its signature.
public struct SignatureAlgorithmRule: IssuingRule {
    public static let accepted: Set<Certificate.SignatureAlgorithm> = [
        .sha256WithRSAEncryption, .sha384WithRSAEncryption, .sha512WithRSAEncryption,
        .ecdsaWithSHA256, .ecdsaWithSHA384, .ecdsaWithSHA512,
    ]

    public init() {}

    public func evaluate(_ request: CertificateSigningRequest) -> CampusError? {
        guard Self.accepted.contains(request.signatureAlgorithm) else {
            return CampusError(
                .weakSignatureAlgorithm,
                "the CSR is signed with \(request.signatureAlgorithm); SHA-256 or stronger is required"
            )
        }
        return nil
    }
}
