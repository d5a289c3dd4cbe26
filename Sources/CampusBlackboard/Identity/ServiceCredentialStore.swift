import CampusPKI
import Crypto
import Synchronization
import X509

/// Blackboard's own certificate and key (`blackboard.cer`, `blackboard.key`), read when first needed and again
/// whenever either file changes.
///
/// In the seed's single directory CUHK writes both files when it creates its root, and Blackboard may start first:
/// until they appear every handshake is refused with `service-certificate-unavailable`.
public final class ServiceCredentialStore: Sendable {
    private struct Loaded: Sendable {
        var identity: [[Int]]
        var credentials: BlackboardHandshake.Credentials
    }

    public let certificatePath: String
    public let keyPath: String
    /// Whether a key file others may read is used anyway (`--allow-insecure-key-permissions`).
    public let allowsInsecureKeyPermissions: Bool
    private let state = Mutex<Loaded?>(nil)

    public init(certificatePath: String, keyPath: String, allowsInsecureKeyPermissions: Bool = false) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.allowsInsecureKeyPermissions = allowsInsecureKeyPermissions
    }

    /// The current certificate and key.
    ///
    /// - Throws: ``CampusError`` `service-certificate-unavailable`; the peer sees a plain reason, the log the path.
    public func current() throws(CampusError) -> BlackboardHandshake.Credentials {
        guard let certificateIdentity = SecureFile.identity(of: certificatePath),
            let keyIdentity = SecureFile.identity(of: keyPath)
        else {
            state.withLock { $0 = nil }
            throw CampusError(
                .serviceCertificateUnavailable, "Blackboard has no certificate of its own yet",
                detail: "\(certificatePath) or \(keyPath) does not exist; cuhk init or cuhk serve writes them beside "
                    + "cuhk.cer, cuhk service issue --out DIR elsewhere")
        }
        let identity = [certificateIdentity, keyIdentity]
        if let loaded = state.withLock({ $0 }), loaded.identity == identity {
            return loaded.credentials
        }
        let credentials: BlackboardHandshake.Credentials
        do {
            try SecureFile.checkPrivate(keyPath, allowed: allowsInsecureKeyPermissions)
            guard let certificatePEM = try SecureFile.readText(at: certificatePath),
                let keyPEM = try SecureFile.readText(at: keyPath)
            else {
                throw CampusError(.serviceCertificateUnavailable, "a file disappeared while being read")
            }
            let certificate = try Certificate(pemEncoded: certificatePEM)
            let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
            guard Certificate.PublicKey(key.publicKey) == certificate.publicKey else {
                throw CampusError(.serviceCertificateUnavailable, "\(keyPath) is not the key of \(certificatePath)")
            }
            credentials = try BlackboardHandshake.Credentials(certificate: certificate, privateKey: key)
        } catch {
            throw CampusError(
                .serviceCertificateUnavailable, "Blackboard cannot use its certificate and key",
                detail: "\(certificatePath), \(keyPath): \(error)")
        }
        state.withLock { $0 = Loaded(identity: identity, credentials: credentials) }
        return credentials
    }
}
