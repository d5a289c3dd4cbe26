import CampusPKI
import X509
import _CryptoExtras

/// The CSR's key is RSA with at least `minimumBits` bits (the original used 1024).
public struct MinimumKeySizeRule: IssuingRule {
    public var minimumBits: Int

    public init(minimumBits: Int = 2048) {
        self.minimumBits = minimumBits
    }

    public func evaluate(_ request: CertificateSigningRequest) -> CampusError? {
        guard let key = _RSA.Signing.PublicKey(request.publicKey) else {
            return CampusError(.unsupportedKeyAlgorithm, "the CSR's key is not RSA; CampusPKI needs RSA for step 4")
        }
        guard key.keySizeInBits >= minimumBits else {
            return CampusError(
                .keyTooSmall, "the key has \(key.keySizeInBits) bits; at least \(minimumBits) are required")
        }
        return nil
    }
}
