import SwiftASN1
import X509

/// The leaf is a service's end-entity certificate, as CUHK issues Blackboard's: BasicConstraints CA:FALSE,
/// KeyUsage with digitalSignature (it signs handshakes and receipts), ExtendedKeyUsage with serverAuth, and a
/// SubjectAlternativeName dNSName equal to the expected name. A student's certificate (clientAuth) fails.
public struct ServerCertificatePolicy: VerifierPolicy {
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.keyUsage]

    /// The DNS name the certificate must carry, compared without regard to case.
    public var expectedName: String

    public init(expectedName: String) {
        self.expectedName = expectedName
    }

    /// Why `leaf` is not the named service's certificate, or `nil` when it is.
    public func failure(for leaf: Certificate) -> BlackboardAuthenticationError? {
        let basicConstraints: BasicConstraints?
        let keyUsage: KeyUsage?
        let extendedKeyUsage: ExtendedKeyUsage?
        let names: SubjectAlternativeNames?
        do {
            basicConstraints = try leaf.extensions.basicConstraints
            keyUsage = try leaf.extensions.keyUsage
            extendedKeyUsage = try leaf.extensions.extendedKeyUsage
            names = try leaf.extensions.subjectAlternativeNames
        } catch {
            return .init(.certificate, "an extension of the certificate cannot be read")
        }
        guard basicConstraints == .notCertificateAuthority else {
            return .init(.serverAuth, "the certificate does not say CA:FALSE, so it is no service's certificate")
        }
        guard let extendedKeyUsage, extendedKeyUsage.contains(.serverAuth) else {
            let client =
                extendedKeyUsage?.contains(.clientAuth) == true ? " (it is a client's, such as a student's)" : ""
            return .init(.serverAuth, "the certificate is not for a server: no serverAuth usage\(client)")
        }
        guard let keyUsage, keyUsage.digitalSignature else {
            return .init(.serverAuth, "the certificate's KeyUsage does not allow digitalSignature")
        }
        let dnsNames = (names ?? SubjectAlternativeNames()).compactMap { name -> String? in
            if case .dnsName(let dns) = name { return dns }
            return nil
        }
        guard dnsNames.contains(where: { $0.lowercased() == expectedName.lowercased() }) else {
            let found = dnsNames.isEmpty ? "no DNS name" : dnsNames.joined(separator: ", ")
            return .init(.name, "the certificate is for \(found), not \(expectedName)")
        }
        return nil
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        if let failure = failure(for: chain.leaf) {
            return .failsToMeetPolicy(reason: failure.description)
        }
        return .meetsPolicy
    }
}
