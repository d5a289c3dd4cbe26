import SwiftASN1
import X509

/// The leaf is an end-entity certificate meant for a client that receives keys: BasicConstraints CA:FALSE,
/// KeyUsage with keyEncipherment (step 4 encrypts the session key to it), ExtendedKeyUsage with clientAuth.
public struct ClientCertificatePolicy: VerifierPolicy {
    // The KeyUsage extension is critical in CampusPKI certificates and this policy enforces it.
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.keyUsage]

    public init() {}

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        let leaf = chain.leaf
        let basicConstraints: BasicConstraints?
        let keyUsage: KeyUsage?
        let extendedKeyUsage: ExtendedKeyUsage?
        do {
            basicConstraints = try leaf.extensions.basicConstraints
            keyUsage = try leaf.extensions.keyUsage
            extendedKeyUsage = try leaf.extensions.extendedKeyUsage
        } catch {
            return Self.failure(.malformedCertificate, "an extension of the certificate cannot be read")
        }
        switch basicConstraints {
        case .isCertificateAuthority:
            return Self.failure(.notAClientCertificate, "a CA certificate cannot be used as a student's certificate")
        case nil:
            // RFC 5280 lets a leaf omit BasicConstraints; CUHK always writes CA:FALSE, and a student's certificate
            // must say so rather than leave it to the reader.
            return Self.failure(
                .notAClientCertificate, "the certificate has no BasicConstraints extension saying CA:FALSE")
        case .notCertificateAuthority:
            break
        }
        if chain.count < 2 {
            return Self.failure(
                .notAClientCertificate, "the root certificate cannot be used as a student's certificate")
        }
        guard let keyUsage, keyUsage.keyEncipherment else {
            return Self.failure(
                .missingKeyEnciphermentUsage, "the certificate's KeyUsage does not allow keyEncipherment")
        }
        guard let extendedKeyUsage, extendedKeyUsage.contains(.clientAuth) else {
            return Self.failure(
                .missingClientAuthUsage, "the certificate's ExtendedKeyUsage does not include clientAuth")
        }
        return .meetsPolicy
    }
}
