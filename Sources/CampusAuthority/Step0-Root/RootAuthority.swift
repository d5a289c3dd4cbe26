import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Seed step 0: CUHK's root key (`cuhk.key`) and self-signed root certificate (`cuhk.cer`).
///
/// The original regenerated both on every start, which silently invalidated every certificate it had issued.
/// Here an existing pair is loaded and checked; a new pair is made only when neither file exists, and a lone
/// file is an error, so an existing key is never overwritten.
public struct RootAuthority: Sendable {
    /// Where the root lives and how a new one is made.
    public struct Configuration: Sendable {
        /// The directory holding `cuhk.key` and `cuhk.cer`.
        public var directory: String
        /// RSA key size for a new root.
        public var keySize: Int
        /// Validity of a new root, in days.
        public var validityDays: Int
        /// Subject of a new root.
        public var subject: DistinguishedName
        /// Load `cuhk.key` even if others may read it.
        public var allowInsecureKeyPermissions: Bool

        public init(
            directory: String = ".",
            keySize: Int = 2048,
            validityDays: Int = 3650,
            subject: DistinguishedName = RootAuthority.defaultSubject,
            allowInsecureKeyPermissions: Bool = false
        ) {
            self.allowInsecureKeyPermissions = allowInsecureKeyPermissions
            self.directory = directory
            self.keySize = keySize
            self.validityDays = validityDays
            self.subject = subject
        }

        public var keyPath: String { SecureFile.join(directory, RootAuthority.keyFileName) }
        public var certificatePath: String { SecureFile.join(directory, RootAuthority.certificateFileName) }
    }

    /// Whether ``load(or:)`` found the root or made it.
    public enum Origin: Sendable, Equatable {
        case loaded
        case created
    }

    /// Why the root could not be loaded.
    public enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        case onlyOneFilePresent(present: String, missing: String)
        case unreadable(path: String, reason: String)
        case keyDoesNotMatchCertificate(keyPath: String, certificatePath: String)
        case keyTooSmall(bits: Int)
        case insecureKey(String)

        public var description: String {
            switch self {
            case .onlyOneFilePresent(let present, let missing):
                "\(present) exists but \(missing) does not; refusing to start rather than replace the root. "
                    + "Restore the missing file, or move both away to create a new root "
                    + "(every certificate issued so far would then stop verifying)."
            case .unreadable(let path, let reason): "cannot use \(path): \(reason)"
            case .insecureKey(let reason): reason
            case .keyDoesNotMatchCertificate(let keyPath, let certificatePath):
                "\(keyPath) is not the key of the certificate in \(certificatePath)"
            case .keyTooSmall(let bits): "the root key has \(bits) bits; at least 2048 are required"
            }
        }
    }

    public static let keyFileName = "cuhk.key"
    public static let certificateFileName = "cuhk.cer"

    /// `C=HK, O=CUHK, CN=CUHK Root CA`.
    public static let defaultSubject: DistinguishedName = {
        try! DistinguishedName {
            CountryName("HK")
            OrganizationName("CUHK")
            CommonName("CUHK Root CA")
        }
    }()

    /// The root certificate.
    public let certificate: Certificate
    /// The root certificate as written to `cuhk.cer`.
    public let certificatePEM: String
    /// The root key. Never logged, never sent.
    public let privateKey: Certificate.PrivateKey
    /// The root's SubjectKeyIdentifier, reused as the AuthorityKeyIdentifier of what it issues.
    public let keyIdentifier: [UInt8]

    init(certificate: Certificate, privateKey: Certificate.PrivateKey) throws {
        self.certificate = certificate
        self.certificatePEM = try certificate.serializeAsPEM().text
        self.privateKey = privateKey
        self.keyIdentifier =
            (try? certificate.extensions.subjectKeyIdentifier).flatMap { $0.map { Array($0.keyIdentifier) } }
            ?? Self.keyIdentifier(of: certificate.publicKey)
    }

    /// The points of a root's creation at which a crash leaves something on disk; tests stop there.
    public enum CreationStep: String, Sendable, CaseIterable {
        /// The key is in the staging directory.
        case stagedKey
        /// Key and certificate are in the staging directory.
        case stagedCertificate
        /// `cuhk.key` is published; `cuhk.cer` is not yet.
        case publishedKey
        /// Both are published; the staging directory is still there.
        case publishedCertificate
    }

    /// Where a new root is written before it is published: `.cuhk-root-new` in the root's directory.
    public static let stagingDirectoryName = ".cuhk-root-new"

    /// Loads the root from its directory, or creates it there when neither file exists.
    ///
    /// A new root is written whole into a staging directory first and then published, key and then certificate,
    /// with `link(2)`. A crash at any point leaves either nothing published (the staging directory is discarded at
    /// the next start) or a complete staged pair whose publication the next start finishes; never a key without
    /// its certificate.
    ///
    /// - Parameters:
    ///   - configuration: The directory and the parameters of a new root.
    ///   - checkpoint: Called after each step of a creation; tests throw (or kill the process) there.
    /// - Returns: The root and whether it was loaded or created.
    /// - Throws: ``LoadError`` when the files are unreadable, do not match, or only one exists; ``FileError``
    ///   when a new root cannot be written.
    public static func load(
        or configuration: Configuration,
        checkpoint: (CreationStep) throws -> Void = { _ in }
    ) throws -> (RootAuthority, Origin) {
        let keyPath = configuration.keyPath
        let certificatePath = configuration.certificatePath
        try finishUnfinishedCreation(in: configuration.directory)
        switch (SecureFile.exists(keyPath), SecureFile.exists(certificatePath)) {
        case (true, true):
            do {
                try SecureFile.checkPrivate(keyPath, allowed: configuration.allowInsecureKeyPermissions)
            } catch {
                throw LoadError.insecureKey("\(error)")
            }
            return (try load(keyPath: keyPath, certificatePath: certificatePath), .loaded)
        case (true, false):
            throw LoadError.onlyOneFilePresent(present: keyPath, missing: certificatePath)
        case (false, true):
            throw LoadError.onlyOneFilePresent(present: certificatePath, missing: keyPath)
        case (false, false):
            let root = try make(
                keySize: configuration.keySize, subject: configuration.subject,
                validityDays: configuration.validityDays)
            try create(root, in: configuration.directory, checkpoint: checkpoint)
            return (root, .created)
        }
    }

    /// Stages both files, then publishes them.
    static func create(_ root: RootAuthority, in directory: String, checkpoint: (CreationStep) throws -> Void) throws {
        try SecureFile.createDirectory(directory)
        let staging = SecureFile.join(directory, stagingDirectoryName)
        try SecureFile.createDirectory(staging)
        try SecureFile.write(
            try root.privateKeyPEM, to: SecureFile.join(staging, keyFileName), mode: SecureFile.privateMode,
            replacing: false)
        try checkpoint(.stagedKey)
        try SecureFile.write(
            root.certificatePEM, to: SecureFile.join(staging, certificateFileName), mode: SecureFile.publicMode,
            replacing: false)
        try checkpoint(.stagedCertificate)
        try publish(keyFileName, from: staging, to: directory)
        try checkpoint(.publishedKey)
        try publish(certificateFileName, from: staging, to: directory)
        try checkpoint(.publishedCertificate)
        try removeStaging(staging)
    }

    /// Finishes or discards a creation that a crash interrupted.
    ///
    /// A complete staged pair is published (whatever of it is not yet); an incomplete one was never published
    /// (publication starts only once both files are staged) and is removed. A published file that differs from
    /// the staged one is not touched, and the start fails.
    static func finishUnfinishedCreation(in directory: String) throws {
        let staging = SecureFile.join(directory, stagingDirectoryName)
        guard SecureFile.exists(staging) else { return }
        let stagedKey = SecureFile.join(staging, keyFileName)
        let stagedCertificate = SecureFile.join(staging, certificateFileName)
        let complete = (try? load(keyPath: stagedKey, certificatePath: stagedCertificate)) != nil
        if complete {
            for name in [keyFileName, certificateFileName] {
                let published = SecureFile.join(directory, name)
                if !SecureFile.exists(published) {
                    try publish(name, from: staging, to: directory)
                } else if try SecureFile.readText(at: published)
                    != SecureFile.readText(at: SecureFile.join(staging, name))
                {
                    throw LoadError.unreadable(
                        path: published,
                        reason: "an unfinished root creation in \(staging) does not match it; move one of them away"
                    )
                }
            }
        }
        try removeStaging(staging)
    }

    private static func publish(_ name: String, from staging: String, to directory: String) throws {
        try SecureFile.link(SecureFile.join(staging, name), to: SecureFile.join(directory, name))
    }

    private static func removeStaging(_ staging: String) throws {
        do {
            try FileManager.default.removeItem(atPath: staging)
        } catch {
            throw LoadError.unreadable(path: staging, reason: "cannot remove it: \(error.localizedDescription)")
        }
        SecureFile.syncDirectory(SecureFile.parentDirectory(of: staging))
    }

    /// Loads an existing pair and checks that the key belongs to the certificate.
    public static func load(keyPath: String, certificatePath: String) throws -> RootAuthority {
        let keyPEM: String
        let certificatePEM: String
        do {
            keyPEM = try SecureFile.readText(at: keyPath) ?? ""
            certificatePEM = try SecureFile.readText(at: certificatePath) ?? ""
        } catch {
            throw LoadError.unreadable(path: keyPath, reason: "\(error)")
        }
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: keyPEM)
        } catch {
            throw LoadError.unreadable(
                path: keyPath,
                reason: "it is not an RSA private key in PEM (it may be cut short); restore it from a backup")
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw LoadError.unreadable(
                path: certificatePath,
                reason: "it is not a valid PEM certificate (it may be cut short); restore it from a backup, or move "
                    + "cuhk.key and cuhk.cer away to create a new root")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw LoadError.keyDoesNotMatchCertificate(keyPath: keyPath, certificatePath: certificatePath)
        }
        return try RootAuthority(certificate: certificate, privateKey: Certificate.PrivateKey(key))
    }

    /// Makes a new root in memory: X.509 v3, SHA-256, a random serial, CA with path length 0,
    /// keyCertSign + cRLSign, SubjectKeyIdentifier.
    public static func make(
        keySize: Int = 2048,
        subject: DistinguishedName = defaultSubject,
        validityDays: Int = 3650,
        now: Date = Date()
    ) throws -> RootAuthority {
        guard keySize >= 2048 else { throw LoadError.keyTooSmall(bits: keySize) }
        let key = try _RSA.Signing.PrivateKey(keySize: .init(bitCount: keySize))
        let privateKey = Certificate.PrivateKey(key)
        let publicKey = privateKey.publicKey
        let certificate = try Certificate(
            version: .v3,
            serialNumber: SerialNumbers.random(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-5 * 60),
            notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: keyIdentifier(of: publicKey)[...])
            },
            issuerPrivateKey: privateKey
        )
        return try RootAuthority(certificate: certificate, privateKey: privateKey)
    }

    /// The key as written to `cuhk.key` (PKCS#1 PEM, `RSA PRIVATE KEY`).
    var privateKeyPEM: String {
        get throws { try privateKey.serializeAsPEM().text }
    }

    /// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. (SHA-1 is fine here: it names a key,
    /// it does not protect anything.)
    static func keyIdentifier(of publicKey: Certificate.PublicKey) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: Array(publicKey.subjectPublicKeyInfoBytes)))
    }
}
