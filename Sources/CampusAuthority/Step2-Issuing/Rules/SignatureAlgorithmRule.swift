import CampusPKI
import SwiftASN1
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

    /// The accepted algorithms' object identifiers, for a request too weak for swift-certificates to parse.
    static let acceptedIdentifiers: Set<ASN1ObjectIdentifier> = [
        [1, 2, 840, 113_549, 1, 1, 11], [1, 2, 840, 113_549, 1, 1, 12], [1, 2, 840, 113_549, 1, 1, 13],
        [1, 2, 840, 10045, 4, 3, 2], [1, 2, 840, 10045, 4, 3, 3], [1, 2, 840, 10045, 4, 3, 4],
    ]

    /// Names of weak algorithms that requests are still seen signed with.
    static let weakNames: [ASN1ObjectIdentifier: String] = [
        [1, 2, 840, 113_549, 1, 1, 2]: "MD2 with RSA",
        [1, 2, 840, 113_549, 1, 1, 4]: "MD5 with RSA",
        [1, 2, 840, 113_549, 1, 1, 5]: "SHA-1 with RSA",
        [1, 2, 840, 10045, 4, 1]: "ECDSA with SHA-1",
        [1, 2, 840, 10045, 4, 3, 1]: "ECDSA with SHA-224",
        [1, 2, 840, 113_549, 1, 1, 14]: "SHA-224 with RSA",
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

    /// The refusal for a request signed with `algorithm`, or `nil` when the algorithm is accepted.
    public static func refusal(for algorithm: ASN1ObjectIdentifier) -> CampusError? {
        guard !acceptedIdentifiers.contains(algorithm) else { return nil }
        let name = weakNames[algorithm] ?? "the algorithm \(algorithm)"
        return CampusError(
            .weakSignatureAlgorithm,
            "the CSR is signed with \(name); RSA or ECDSA with SHA-256, SHA-384 or SHA-512 is required"
        )
    }
}
