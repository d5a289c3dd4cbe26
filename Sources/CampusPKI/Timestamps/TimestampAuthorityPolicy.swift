import SwiftASN1
import X509

/// The leaf is a timestamp authority's certificate as RFC 3161 section 2.3 requires: ExtendedKeyUsage with
/// timeStamping as its only purpose, marked critical; and, as CUHK issues it, not a CA, with KeyUsage allowing
/// digitalSignature and no certificate or CRL signing.
///
/// A student's certificate (clientAuth) and Blackboard's (serverAuth) fail it, so neither can sign a token, and the
/// TSA certificate fails their policies in turn.
public struct TimestampAuthorityPolicy: VerifierPolicy {
    /// Both extensions are critical in a TSA certificate, and this policy checks them.
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.keyUsage, .X509ExtensionID.extendedKeyUsage,
    ]

    public init() {}

    /// Why `leaf` is not a TSA certificate, or `nil` when it is.
    public func failure(for leaf: Certificate) -> String? {
        let basicConstraints: BasicConstraints?
        let keyUsage: KeyUsage?
        let extendedKeyUsage: ExtendedKeyUsage?
        do {
            basicConstraints = try leaf.extensions.basicConstraints
            keyUsage = try leaf.extensions.keyUsage
            extendedKeyUsage = try leaf.extensions.extendedKeyUsage
        } catch {
            return "an extension of the certificate cannot be read"
        }
        if case .some(.isCertificateAuthority) = basicConstraints {
            return "it is a certificate authority's certificate"
        }
        guard let extendedKeyUsage else {
            return "it has no ExtendedKeyUsage extension (a TSA certificate has timeStamping only)"
        }
        guard extendedKeyUsage.contains(.timeStamping) else {
            let usages = Array(extendedKeyUsage).map { "\($0)" }.joined(separator: ", ")
            return "its ExtendedKeyUsage (\(usages)) does not include timeStamping"
        }
        guard Array(extendedKeyUsage).count == 1 else {
            return "its ExtendedKeyUsage has purposes besides timeStamping (RFC 3161 allows timeStamping only)"
        }
        guard leaf.extensions[oid: .X509ExtensionID.extendedKeyUsage]?.critical == true else {
            return "its ExtendedKeyUsage extension is not marked critical (RFC 3161 requires it)"
        }
        guard let keyUsage, keyUsage.digitalSignature, !keyUsage.keyCertSign, !keyUsage.cRLSign else {
            return "its KeyUsage does not allow digitalSignature only"
        }
        return nil
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        if let failure = failure(for: chain.leaf) { return .failsToMeetPolicy(reason: failure) }
        return .meetsPolicy
    }
}
