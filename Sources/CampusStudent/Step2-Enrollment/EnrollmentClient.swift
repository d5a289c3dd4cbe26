import CampusPKI
import Foundation
import SwiftASN1
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
        /// Use a saved key even if others may read it.
        public var allowInsecureKeyPermissions: Bool
        /// The one-time enrollment code from the course's staff; asked for through ``EnrollmentClient/askForCode``
        /// when `nil` and a new certificate is needed.
        public var code: String?

        public init(
            directory: String = ".",
            certificateAuthority: ServerAddress = .defaultCertificateAuthority,
            renew: Bool = false,
            rootCertificatePath: String? = nil,
            keyBits: Int = 2048,
            allowInsecureKeyPermissions: Bool = false,
            code: String? = nil
        ) {
            self.code = code
            self.directory = directory
            self.certificateAuthority = certificateAuthority
            self.renew = renew
            self.rootCertificatePath = rootCertificatePath
            self.keyBits = keyBits
            self.allowInsecureKeyPermissions = allowInsecureKeyPermissions
        }

        /// Where a root CUHK sent is pinned when no root was given: `cuhk.cer` in ``directory``.
        public var pinnedRootPath: String { SecureFile.join(directory, RootFile.name) }
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
    /// Asks the person for an enrollment code when none was given and a new certificate is needed; `nil` or an
    /// empty answer sends the request without one (CUHK with open enrollment needs none).
    public var askForCode: @Sendable () -> String?

    public init(
        configuration: Configuration, reporter: @escaping StepReporter = { _, _ in },
        askForCode: @escaping @Sendable () -> String? = { nil }
    ) {
        self.configuration = configuration
        self.reporter = reporter
        self.askForCode = askForCode
    }

    /// Enrolls the student, or reuses what is saved.
    ///
    /// - Throws: ``StudentError``.
    public func enroll(_ studentID: StudentID) async throws -> (StudentCredentials, Outcome) {
        let directory = configuration.directory
        let pinnedRoot = try loadPinnedRoot()
        // The saved key is read once: parsing an RSA private key is not free.
        let existingKey =
            configuration.renew
            ? nil
            : try StudentCredentials.loadKey(
                for: studentID, in: directory, allowingInsecurePermissions: configuration.allowInsecureKeyPermissions)
        if let existingKey,
            let saved = try await StudentCredentials.loadValid(
                for: studentID, key: existingKey, in: directory, root: pinnedRoot)
        {
            reporter(.certificate, "Reusing the saved key and certificate \(studentID).key / \(studentID).cer")
            return (saved, .reused)
        }

        try Self.prepareDirectory(directory)
        let key = try existingKey ?? CertificateRequestBuilder.makeKey(bits: configuration.keyBits)
        let csrPEM = try CertificateRequestBuilder.makeRequest(for: studentID, key: key)
        reporter(
            .request,
            existingKey == nil
                ? "Key pair generated; CSR Request Generated." : "CSR Request Generated with the saved key.")

        let code = configuration.code ?? askForCode().flatMap { $0.isEmpty ? nil : $0 }
        let (certificatePEM, rootPEM) = try await requestCertificate(csrPEM: csrPEM, code: code)
        reporter(.certificate, "Get Cert2!")
        let credentials = try await accept(
            certificatePEM, rootPEM: rootPEM, pinnedRoot: pinnedRoot, for: studentID, key: key,
            newKey: configuration.renew || existingKey == nil)
        return (credentials, .issued)
    }

    /// Renews the saved, still valid certificate: a new key and CSR, authorized by the current certificate's key
    /// over CUHK's fresh challenge instead of an enrollment code. CUHK revokes the old certificate (superseded).
    ///
    /// - Throws: ``StudentError``; `local` when there is no valid saved certificate to renew.
    public func renew(_ studentID: StudentID) async throws -> StudentCredentials {
        let directory = configuration.directory
        let pinnedRoot = try loadPinnedRoot()
        guard
            let currentKey = try StudentCredentials.loadKey(
                for: studentID, in: directory, allowingInsecurePermissions: configuration.allowInsecureKeyPermissions),
            let current = try await StudentCredentials.loadValid(
                for: studentID, key: currentKey, in: directory, root: pinnedRoot)
        else {
            throw StudentError.local(
                "there is no valid saved certificate for \(studentID) in \(directory) to renew; "
                    + "an expired or revoked certificate cannot renew: enroll again with a new code")
        }
        try Self.prepareDirectory(directory)
        let key = try CertificateRequestBuilder.makeKey(bits: configuration.keyBits)
        let csrPEM = try CertificateRequestBuilder.makeRequest(for: studentID, key: key)
        reporter(.request, "New key pair generated; CSR Request Generated for the renewal.")
        let server = server
        let (certificatePEM, rootPEM): (String, String)
        do {
            (certificatePEM, rootPEM) = try await FramedClient.withConnection(to: configuration.certificateAuthority) {
                frames in
                try await frames.send(.renewalRequest(certificatePEM: current.certificatePEM))
                let nonce: [UInt8]
                switch try await frames.receive().message {
                case .renewalChallenge(let value): nonce = value
                case .error(let error): throw StudentError.refusal(error, by: server, answeringFirstMessage: true)
                case let other: throw StudentError.invalidResponse("\(server) answered with \(other.kind.phrase)")
                }
                let csrDER = try PEMDocument(pemString: csrPEM).derBytes
                let proof = try RenewalProof.sign(nonce: nonce, csrDER: csrDER, with: current.privateKey)
                try await frames.send(.renewalProof(csrPEM: csrPEM, signature: proof))
                switch try await frames.receive().message {
                case .enrollmentCertificate(let certificatePEM, let rootPEM): return (certificatePEM, rootPEM)
                case .error(let error): throw StudentError.refusedByCUHK(error)
                case let other: throw StudentError.invalidResponse("\(server) answered with \(other.kind.phrase)")
                }
            }
        } catch {
            throw StudentError.fromConnection(error, server: server)
        }
        reporter(.certificate, "Get Cert2! (renewed; \(current.certificate.serialNumber.hex) is superseded)")
        return try await accept(
            certificatePEM, rootPEM: rootPEM, pinnedRoot: pinnedRoot, for: studentID, key: key, newKey: true)
    }

    /// Checks CUHK's answer against the trusted root and this student's key, then saves key and certificate.
    private func accept(
        _ certificatePEM: String, rootPEM: String, pinnedRoot: Certificate?, for studentID: StudentID,
        key: _RSA.Signing.PrivateKey, newKey: Bool
    ) async throws -> StudentCredentials {
        let root = try trustedRoot(pinned: pinnedRoot, sentPEM: rootPEM)
        let certificate: Certificate
        do {
            certificate = try await StudentCertificateVerifier(root: root).verify(
                certificatePEM: certificatePEM,
                for: studentID
            )
        } catch let error as CampusError {
            throw StudentError.invalidResponse(
                "CUHK's certificate fails verification against the root \(root.sha256Fingerprint): \(error.reason)")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw StudentError.invalidResponse("CUHK's certificate is not for this student's key")
        }
        let keyPath = StudentCredentials.keyPath(for: studentID, in: configuration.directory)
        do {
            if newKey {
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
                to: StudentCredentials.certificatePath(for: studentID, in: configuration.directory),
                mode: SecureFile.publicMode,
                replacing: true
            )
        } catch {
            throw StudentError.local("cannot save the key and certificate: \(error)")
        }
        return try StudentCredentials(studentID: studentID, privateKey: key, certificatePEM: certificatePEM)
    }

    /// Creates the directory if needed and proves it writable, before anything is asked of CUHK: a Student that
    /// enrolled and then could not save its key would leave a certificate nobody holds.
    ///
    /// - Throws: ``StudentError/local(_:)`` naming the directory.
    public static func prepareDirectory(_ directory: String) throws {
        do {
            try SecureFile.createDirectory(directory)
            try SecureFile.checkWritable(directory: directory)
        } catch {
            throw StudentError.local("cannot use the directory \(directory): \(error) (see --dir)")
        }
    }

    private var server: StudentError.Server { .cuhk(configuration.certificateAuthority) }

    private func requestCertificate(csrPEM: String, code: String?) async throws -> (String, String) {
        let server = server
        do {
            return try await FramedClient.withConnection(to: configuration.certificateAuthority) { frames in
                try await frames.send(
                    code.map { .codedEnrollmentRequest(csrPEM: csrPEM, code: $0) } ?? .enrollmentRequest(csrPEM: csrPEM)
                )
                switch try await frames.receive().message {
                case .enrollmentCertificate(let certificatePEM, let rootPEM):
                    return (certificatePEM, rootPEM)
                case .error(let error):
                    throw StudentError.refusal(error, by: server, answeringFirstMessage: true)
                case let other:
                    throw StudentError.invalidResponse("\(server) answered with \(other.kind.phrase)")
                }
            }
        } catch {
            throw StudentError.fromConnection(error, server: server)
        }
    }

    /// The root to verify cert 2 with: the pinned one, which must be the one CUHK sent; or, on first use, the one
    /// CUHK sent, which is then pinned in the Student's directory and said so with its fingerprint.
    private func trustedRoot(pinned: Certificate?, sentPEM: String) throws -> Certificate {
        let sent: Certificate
        do {
            sent = try Certificate(pemEncoded: sentPEM)
        } catch {
            throw StudentError.invalidResponse("\(server) sent a root certificate that cannot be parsed")
        }
        if let pinned {
            guard pinned == sent else {
                throw StudentError.invalidResponse(
                    "\(server) sent the root \(sent.sha256Fingerprint), but this Student trusts the root "
                        + "\(pinned.sha256Fingerprint) (\(configuration.rootCertificatePath ?? configuration.pinnedRootPath)); "
                        + "is \(server.option) the right CUHK? If CUHK's root really changed, move the old file away")
            }
            return pinned
        }
        do {
            try SecureFile.write(
                sentPEM, to: configuration.pinnedRootPath, mode: SecureFile.publicMode, replacing: false)
        } catch {
            throw StudentError.local("cannot save CUHK's root to \(configuration.pinnedRootPath): \(error)")
        }
        reporter(
            .certificate,
            "Trusting CUHK's root on first use, SHA-256 fingerprint \(sent.sha256Fingerprint); "
                + "saved as \(configuration.pinnedRootPath) and trusted from now on")
        return sent
    }

    /// The root Blackboard's certificate must chain to at upload time: `--root-cert`, or the root pinned at
    /// enrollment. There is no trust on first use here: without it the upload does not start.
    ///
    /// - Throws: ``StudentError/local(_:)`` when there is none.
    public func uploadRoot() throws -> Certificate {
        guard let root = try loadPinnedRoot() else {
            throw StudentError.local(
                "no CUHK root to check Blackboard against: \(configuration.pinnedRootPath) is missing "
                    + "(student enroll pins it, from CUHK's first answer; or give --root-cert)")
        }
        return root
    }

    private func loadPinnedRoot() throws -> Certificate? {
        let path = configuration.rootCertificatePath ?? configuration.pinnedRootPath
        do {
            return try RootFile.load(path, required: configuration.rootCertificatePath != nil)
        } catch let error as RootFile.LoadError {
            throw StudentError.local("\(error) (see --root-cert)")
        }
    }
}
