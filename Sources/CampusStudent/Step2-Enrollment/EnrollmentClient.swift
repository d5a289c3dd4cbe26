import CampusPKI
import Foundation
import X509
import _CryptoExtras

/// Seed steps 1–2 on the Student's side: key pair, CSR, cert 2 from CUHK, saved to disk.
public struct EnrollmentClient: Sendable {
    public struct Configuration: Sendable {
        /// Where `<SID>.key` and `<SID>.cer` live.
        public var directory: String
        /// CUHK's address.
        public var certificateAuthority: ServerAddress
        /// Make a new key and certificate even if valid ones are saved.
        public var renew: Bool
        /// The root to trust; when `nil`, `cuhk.cer` in ``directory`` if present, else the root CUHK sends.
        public var rootCertificatePath: String?
        /// RSA key size for a new key.
        public var keyBits: Int

        public init(
            directory: String = ".",
            certificateAuthority: ServerAddress = .defaultCertificateAuthority,
            renew: Bool = false,
            rootCertificatePath: String? = nil,
            keyBits: Int = 2048
        ) {
            self.directory = directory
            self.certificateAuthority = certificateAuthority
            self.renew = renew
            self.rootCertificatePath = rootCertificatePath
            self.keyBits = keyBits
        }
    }

    /// What enrollment did.
    public enum Outcome: Sendable, Equatable {
        /// A valid saved key and certificate were reused.
        case reused
        /// CUHK issued a new certificate.
        case issued
    }

    public var configuration: Configuration
    public var reporter: StepReporter

    public init(configuration: Configuration, reporter: @escaping StepReporter = { _, _ in }) {
        self.configuration = configuration
        self.reporter = reporter
    }

    /// Enrolls the student, or reuses what is saved.
    ///
    /// - Throws: ``StudentError``.
    public func enroll(_ studentID: StudentID) async throws -> (StudentCredentials, Outcome) {
        let directory = configuration.directory
        let pinnedRoot = try loadPinnedRoot()
        // The saved key is read once: parsing an RSA private key is not free.
        let existingKey = configuration.renew ? nil : try StudentCredentials.loadKey(for: studentID, in: directory)
        if let existingKey,
            let saved = try await StudentCredentials.loadValid(
                for: studentID, key: existingKey, in: directory, root: pinnedRoot)
        {
            reporter(.certificate, "Reusing the saved key and certificate \(studentID).key / \(studentID).cer")
            return (saved, .reused)
        }

        do {
            try SecureFile.createDirectory(directory)
        } catch {
            throw StudentError.local("\(error)")
        }
        let keyPath = StudentCredentials.keyPath(for: studentID, in: directory)
        let key = try existingKey ?? CertificateRequestBuilder.makeKey(bits: configuration.keyBits)
        let csrPEM = try CertificateRequestBuilder.makeRequest(for: studentID, key: key)
        reporter(
            .request,
            existingKey == nil
                ? "Key pair generated; CSR Request Generated." : "CSR Request Generated with the saved key.")

        let (certificatePEM, rootPEM) = try await requestCertificate(csrPEM: csrPEM)
        reporter(.certificate, "Get Cert2!")

        let root: Certificate
        if let pinnedRoot {
            root = pinnedRoot
        } else {
            do {
                root = try Certificate(pemEncoded: rootPEM)
            } catch {
                throw StudentError.invalidResponse("CUHK sent a root certificate that cannot be parsed")
            }
        }
        let certificate: Certificate
        do {
            certificate = try await StudentCertificateVerifier(root: root).verify(
                certificatePEM: certificatePEM,
                for: studentID
            )
        } catch let error as CampusError {
            throw StudentError.invalidResponse("CUHK's certificate fails verification: \(error.reason)")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw StudentError.invalidResponse("CUHK's certificate is not for this student's key")
        }

        do {
            if configuration.renew || existingKey == nil {
                // A key is never overwritten: an old one is kept aside under a dated name.
                if SecureFile.exists(keyPath) {
                    let stamp = Int(Date().timeIntervalSince1970)
                    try SecureFile.moveAside(keyPath, to: "\(keyPath).\(stamp).old")
                }
                try SecureFile.write(
                    try Certificate.PrivateKey(key).serializeAsPEM().pemString,
                    to: keyPath,
                    mode: SecureFile.privateMode,
                    replacing: false
                )
            }
            try SecureFile.write(
                certificatePEM,
                to: StudentCredentials.certificatePath(for: studentID, in: directory),
                mode: SecureFile.publicMode,
                replacing: true
            )
        } catch {
            throw StudentError.local("cannot save the key and certificate: \(error)")
        }
        return (try StudentCredentials(studentID: studentID, privateKey: key, certificatePEM: certificatePEM), .issued)
    }

    private func requestCertificate(csrPEM: String) async throws -> (String, String) {
        do {
            return try await FramedClient.withConnection(to: configuration.certificateAuthority) { frames in
                try await frames.send(.enrollmentRequest(csrPEM: csrPEM))
                switch try await frames.receive().message {
                case .enrollmentCertificate(let certificatePEM, let rootPEM):
                    return (certificatePEM, rootPEM)
                case .error(let error):
                    throw StudentError.refusedByCUHK(error)
                case let other:
                    throw StudentError.invalidResponse("CUHK answered with \(other.kind)")
                }
            }
        } catch {
            throw StudentError.fromConnection(error, server: "CUHK at \(configuration.certificateAuthority)")
        }
    }

    private func loadPinnedRoot() throws -> Certificate? {
        let path = configuration.rootCertificatePath ?? SecureFile.join(configuration.directory, "cuhk.cer")
        let text: String?
        do {
            text = try SecureFile.readText(at: path)
        } catch {
            throw StudentError.local("cannot read \(path): \(error)")
        }
        guard let text else {
            if configuration.rootCertificatePath != nil { throw StudentError.local("\(path) does not exist") }
            return nil
        }
        do {
            return try Certificate(pemEncoded: text)
        } catch {
            throw StudentError.local("\(path) is not a PEM certificate")
        }
    }
}
