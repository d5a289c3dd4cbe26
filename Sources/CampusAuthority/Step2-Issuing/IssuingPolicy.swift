import CampusPKI
import X509

/// One rule a CSR must meet before CUHK signs it.
public protocol IssuingRule: Sendable {
    /// Checks the request.
    ///
    /// - Returns: `nil` when the request meets the rule, or the refusal with its code.
    func evaluate(_ request: CertificateSigningRequest) -> CampusError?
}

/// CUHK's issuing policy: every rule must hold, and the first refusal is the answer.
///
/// Nothing the requester puts in the CSR beyond its key and CN reaches the certificate: the CA sets the
/// subject, validity and extensions itself, so these rules only decide *whether* to issue.
public struct IssuingPolicy: Sendable {
    public var rules: [any IssuingRule]

    public init(rules: [any IssuingRule]) {
        self.rules = rules
    }

    /// The seed's policy: SHA-256 or stronger, one 10-digit CN, RSA of at least `minimumKeyBits`.
    public static func standard(minimumKeyBits: Int = 2048) -> IssuingPolicy {
        IssuingPolicy(rules: [
            SignatureAlgorithmRule(),
            StudentSubjectRule(),
            MinimumKeySizeRule(minimumBits: minimumKeyBits),
        ])
    }

    /// The first refusal, or `nil` when the request may be signed.
    public func evaluate(_ request: CertificateSigningRequest) -> CampusError? {
        for rule in rules {
            if let refusal = rule.evaluate(request) { return refusal }
        }
        return nil
    }
}
