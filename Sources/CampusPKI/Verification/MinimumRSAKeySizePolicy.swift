import SwiftASN1
import X509
import _CryptoExtras

/// The leaf's key is RSA of at least `minimumBits` (the original used 1024-bit keys).
public struct MinimumRSAKeySizePolicy: VerifierPolicy {
    public let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []
    public var minimumBits: Int

    public init(minimumBits: Int = 2048) {
        self.minimumBits = minimumBits
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        guard let key = _RSA.Signing.PublicKey(chain.leaf.publicKey) else {
            return Self.failure(.unsupportedKeyAlgorithm, "the certificate's key is not an RSA key")
        }
        guard key.keySizeInBits >= minimumBits else {
            return Self.failure(
                .keyTooSmall, "the key has \(key.keySizeInBits) bits; at least \(minimumBits) are required")
        }
        return .meetsPolicy
    }
}
