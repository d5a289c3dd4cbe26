/// Why a timestamp request, reply or token was refused, each with a plain reason.
///
/// The TSA answers the first four with an RFC 3161 rejection (``PKIStatusInfo/FailureInfo``); a verifier throws the
/// others.
public enum TimestampError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not the DER structure they should be (RFC 3161 `badDataFormat`).
    case malformed(String)
    /// A hash or signature algorithm that is not accepted (`badAlg`).
    case unsupportedAlgorithm(String)
    /// The request asks for a policy this TSA does not use (`unacceptedPolicy`).
    case unacceptedPolicy(String)
    /// The request carries an extension this TSA does not handle (`unacceptedExtension`).
    case unacceptedExtension(String)
    /// The TSA answered with a status other than granted.
    case rejected(PKIStatusInfo)
    /// The token's signature, or the digest its signed attributes state, does not match.
    case badSignature(String)
    /// The signer's certificate does not chain to the trusted root.
    case untrustedSigner(String)
    /// The signer's certificate does not have the profile of a timestamp authority.
    case notATimestampAuthority(String)
    /// The signing-certificate-v2 attribute does not name the signer's certificate.
    case certificateBinding(String)
    /// The token is for other bytes than the ones expected.
    case imprintMismatch(String)
    /// The token's nonce is not the one sent.
    case nonceMismatch(String)

    /// The reason alone, without the sentence that says what was checked (for errors of other documents signed
    /// the same way, such as manifests).
    var reason: String {
        switch self {
        case .malformed(let reason), .unsupportedAlgorithm(let reason), .unacceptedPolicy(let reason),
            .unacceptedExtension(let reason), .badSignature(let reason), .untrustedSigner(let reason),
            .notATimestampAuthority(let reason), .certificateBinding(let reason), .imprintMismatch(let reason),
            .nonceMismatch(let reason):
            reason
        case .rejected(let status): "\(status)"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let reason): "the timestamp data is malformed: \(reason)"
        case .unsupportedAlgorithm(let reason): "the timestamp uses an algorithm that is not accepted: \(reason)"
        case .unacceptedPolicy(let reason): "the timestamp policy is not accepted: \(reason)"
        case .unacceptedExtension(let reason): "the timestamp request has an extension that is not accepted: \(reason)"
        case .rejected(let status): "the timestamp authority refused the request: \(status)"
        case .badSignature(let reason): "the timestamp token's signature check failed: \(reason)"
        case .untrustedSigner(let reason): "the timestamp token's signer is not trusted: \(reason)"
        case .notATimestampAuthority(let reason):
            "the timestamp token's signer is not a timestamp authority's certificate: \(reason)"
        case .certificateBinding(let reason):
            "the timestamp token does not name its signer's certificate: \(reason)"
        case .imprintMismatch(let reason): "the timestamp token is for other data: \(reason)"
        case .nonceMismatch(let reason): "the timestamp token's nonce check failed: \(reason)"
        }
    }
}
