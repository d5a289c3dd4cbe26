import CampusPKI
import X509
import _CryptoExtras

/// Seed step 1: the Student's key pair and CSR.
public enum CertificateRequestBuilder {
    /// A new RSA key pair from the system CSPRNG (the original used 1024 bits).
    public static func makeKey(bits: Int = 2048) throws -> _RSA.Signing.PrivateKey {
        try _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))
    }

    /// A CSR with subject `CN=<SID>`, signed with SHA-256 by `key`.
    ///
    /// - Returns: The CSR in PEM.
    public static func makeRequest(for studentID: StudentID, key: _RSA.Signing.PrivateKey) throws -> String {
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName(studentID.rawValue) },
            privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .sha256WithRSAEncryption
        )
        return try request.serializeAsPEM().text
    }
}
