import Crypto
import SwiftASN1
import X509

extension Certificate {
    /// The SHA-256 of the certificate's DER, as `openssl x509 -noout -fingerprint -sha256` prints it
    /// (upper-case hex pairs joined by colons).
    ///
    /// Every CUHK root has the same name, so the fingerprint is what tells one root from another.
    public var sha256Fingerprint: String {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(self)) != nil else { return "?" }
        return Array(SHA256.hash(data: serializer.serializedBytes)).colonSeparatedHex
    }
}
