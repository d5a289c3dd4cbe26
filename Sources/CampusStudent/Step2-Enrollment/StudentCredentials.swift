import CampusPKI
import Foundation
import X509
import _CryptoExtras

/// The Student's key and cert 2, as saved in `<SID>.key` (0600) and `<SID>.cer`.
public struct StudentCredentials: Sendable {
    public let studentID: StudentID
    public let privateKey: _RSA.Signing.PrivateKey
    public let certificate: Certificate
    public let certificatePEM: String
    /// The same key, for decrypting step 4's session key: made once with the credentials, not for each handshake
    /// (swift-crypto makes it from the key's DER and checks it, and each new key sets up its decryption again).
    var decryptionKey: _RSA.Encryption.PrivateKey { decryption.key }
    private let decryption: DecryptionKey

    /// swift-crypto's `_RSA.Encryption.PrivateKey` is not marked `Sendable`, though it holds the same kind of
    /// BoringSSL key (`BoringSSLRSAPrivateKey`, marked `Sendable`) as `_RSA.Signing.PrivateKey`, which is.
    private struct DecryptionKey: @unchecked Sendable {
        let key: _RSA.Encryption.PrivateKey
    }

    public init(studentID: StudentID, privateKey: _RSA.Signing.PrivateKey, certificatePEM: String) throws {
        self.studentID = studentID
        self.privateKey = privateKey
        self.certificatePEM = certificatePEM
        self.certificate = try Certificate(pemText: certificatePEM)
        self.decryption = DecryptionKey(
            key: try _RSA.Encryption.PrivateKey(derRepresentation: privateKey.derRepresentation))
    }

    public static func keyPath(for studentID: StudentID, in directory: String) -> String {
        SecureFile.join(directory, "\(studentID).key")
    }

    public static func certificatePath(for studentID: StudentID, in directory: String) -> String {
        SecureFile.join(directory, "\(studentID).cer")
    }

    /// The saved key, if any.
    ///
    /// - Throws: ``StudentError/local(_:)`` when the key is unreadable, too small, or readable by others (unless
    ///   `allowingInsecurePermissions`).
    static func loadKey(
        for studentID: StudentID, in directory: String, allowingInsecurePermissions: Bool = false
    ) throws -> _RSA.Signing.PrivateKey? {
        try loadKey(
            at: keyPath(for: studentID, in: directory), allowingInsecurePermissions: allowingInsecurePermissions)
    }

    /// The key in the file at `path`, if there is one; see ``loadKey(for:in:allowingInsecurePermissions:)``.
    static func loadKey(at path: String, allowingInsecurePermissions: Bool = false) throws -> _RSA.Signing.PrivateKey? {
        let pem: String
        do {
            guard let text = try SecureFile.readText(at: path) else { return nil }
            try SecureFile.checkPrivate(path, allowed: allowingInsecurePermissions)
            pem = text
        } catch {
            throw StudentError.local("\(error)")
        }
        do {
            return try _RSA.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            if let weak = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: pem) {
                throw StudentError.local(
                    "\(path) holds a \(weak.keySizeInBits)-bit key; at least 2048 bits are required (use --renew)"
                )
            }
            throw StudentError.local("\(path) is not an RSA private key in PEM")
        }
    }

    /// The saved certificate with `key`, if it exists, belongs to the key, is for this SID and is valid now.
    ///
    /// - Parameter root: When given, the certificate must also chain to it.
    static func loadValid(
        for studentID: StudentID,
        key: _RSA.Signing.PrivateKey,
        in directory: String,
        root: Certificate?
    ) async throws -> StudentCredentials? {
        guard let credentials = try await loadHeld(for: studentID, key: key, in: directory, root: root) else {
            return nil
        }
        let now = Date()
        guard credentials.certificate.notValidBefore <= now, now < credentials.certificate.notValidAfter else {
            return nil
        }
        return credentials
    }

    /// The saved certificate with `key`, if it exists, belongs to the key, is for this SID and was valid at some
    /// time: it chains to `root` (when given) as it did before it expired. An expired one can still renew for a
    /// while (``EnrollmentChannel/renewalGraceDays``).
    static func loadHeld(
        for studentID: StudentID,
        key: _RSA.Signing.PrivateKey,
        in directory: String,
        root: Certificate?
    ) async throws -> StudentCredentials? {
        guard let pem = try SecureFile.readText(at: certificatePath(for: studentID, in: directory)),
            let credentials = try? StudentCredentials(studentID: studentID, privateKey: key, certificatePEM: pem),
            credentials.certificate.publicKey == Certificate.PublicKey(key.publicKey),
            credentials.certificate.subject.studentID == studentID
        else { return nil }
        if let root {
            let checkedAt = min(Date(), credentials.certificate.notValidAfter)
            guard
                (try? await StudentCertificateVerifier(root: root).verify(
                    certificatePEM: pem, for: studentID, at: checkedAt)) != nil
            else { return nil }
        }
        return credentials
    }
}
