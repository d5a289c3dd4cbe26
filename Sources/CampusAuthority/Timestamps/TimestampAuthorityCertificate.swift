import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import X509

/// CUHK's timestamp authority certificate: a key of its own that signs timestamp tokens, certified by the root.
///
/// The profile (RFC 3161 section 2.3, docs/PROTOCOL.md section 9.1): ECDSA P-256 key; subject `O=CUHK,
/// CN=CUHK Timestamp Authority` (the root's organisation); BasicConstraints CA:FALSE and KeyUsage digitalSignature,
/// both critical; ExtendedKeyUsage timeStamping only, critical; SubjectKeyIdentifier and AuthorityKeyIdentifier;
/// signed by the root with sha256WithRSAEncryption; valid from five minutes before issue for
/// ``defaultValidityDays``, never beyond the root. It has no serverAuth or clientAuth usage, so it cannot pass for
/// Blackboard's certificate or a student's, and neither of those can sign a token.
///
/// A key of its own, rather than the root's, keeps the root key for certificates only and lets the TSA key be
/// replaced without touching the root; P-256 keeps signing cheap during a deadline rush.
public struct TimestampAuthorityCertificate: Sendable {
    public static let keyFileName = "cuhk-tsa.key"
    public static let certificateFileName = "cuhk-tsa.cer"
    /// The name it is recorded under among the service certificates in `cuhk.db`.
    public static let serviceName = "cuhk-tsa"
    /// Three years: long enough for a course's appeals, short enough that the key is replaced now and then.
    public static let defaultValidityDays = 1095
    public static let commonName = "CUHK Timestamp Authority"

    /// The certificate.
    public let certificate: Certificate
    /// Its private key. Never logged, never sent.
    public let privateKey: P256.Signing.PrivateKey

    /// Where the files are and how a new certificate is made.
    public struct Configuration: Sendable {
        /// The directory of `cuhk-tsa.key` and `cuhk-tsa.cer` (CUHK's).
        public var directory: String
        public var validityDays: Int
        /// Load `cuhk-tsa.key` even if others may read it.
        public var allowInsecureKeyPermissions: Bool

        public init(
            directory: String = ".", validityDays: Int = TimestampAuthorityCertificate.defaultValidityDays,
            allowInsecureKeyPermissions: Bool = false
        ) {
            self.directory = directory
            self.validityDays = validityDays
            self.allowInsecureKeyPermissions = allowInsecureKeyPermissions
        }

        public var keyPath: String { SecureFile.join(directory, TimestampAuthorityCertificate.keyFileName) }
        public var certificatePath: String {
            SecureFile.join(directory, TimestampAuthorityCertificate.certificateFileName)
        }
    }

    /// What ``loadOrIssue(_:root:registry:now:checkpoint:)`` did.
    public enum Origin: Sendable, Equatable {
        /// Both files were there and valid.
        case loaded
        /// A new certificate was issued (for a new key, or for a key whose certificate was never recorded).
        case issued
        /// The key was there and its certificate recorded, but the file was not written: it was written now.
        case recovered
    }

    /// The points of an issue at which a crash leaves something behind; tests stop there.
    public enum IssueStep: String, Sendable, CaseIterable {
        /// `cuhk-tsa.key` is written.
        case wroteKey
        /// The certificate is recorded in `cuhk.db`; `cuhk-tsa.cer` is not written yet.
        case recorded
        /// `cuhk-tsa.cer` is written.
        case wroteCertificate
    }

    /// Why the TSA certificate could not be loaded.
    public enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        case certificateWithoutKey(certificatePath: String, keyPath: String)
        case unreadable(path: String, reason: String)
        case keyDoesNotMatchCertificate(keyPath: String, certificatePath: String)
        case notIssuedByRoot(certificatePath: String)
        case wrongProfile(certificatePath: String, reason: String)

        public var description: String {
            switch self {
            case .certificateWithoutKey(let certificatePath, let keyPath):
                "\(certificatePath) exists but \(keyPath) does not, so CUHK cannot sign timestamps; restore the key, "
                    + "or move \(certificatePath) away and start again to issue a new TSA certificate"
            case .unreadable(let path, let reason): "cannot use \(path): \(reason)"
            case .keyDoesNotMatchCertificate(let keyPath, let certificatePath):
                "\(keyPath) is not the key of the certificate in \(certificatePath); move both away and start again "
                    + "to issue a new TSA certificate"
            case .notIssuedByRoot(let certificatePath):
                "\(certificatePath) was not issued by the root in \(RootAuthority.certificateFileName); move it and "
                    + "\(TimestampAuthorityCertificate.keyFileName) away and start again to issue a new one"
            case .wrongProfile(let certificatePath, let reason):
                "\(certificatePath) is not a timestamp authority's certificate: \(reason)"
            }
        }
    }

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Makes a TSA certificate for `key`, signed by `root`.
    public static func make(
        key: P256.Signing.PrivateKey, root: RootAuthority, validityDays: Int = defaultValidityDays,
        now: Date = Date()
    ) throws -> Certificate {
        let publicKey = Certificate.PublicKey(key.publicKey)
        let organisation = root.certificate.subject.flatMap { rdn in
            rdn.filter { $0.type == .RDNAttributeType.organizationName }
        }
        let subject = DistinguishedName(
            organisation.map { RelativeDistinguishedName($0) }
                + [RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, utf8String: commonName))])
        let notValidAfter = min(now.addingTimeInterval(Double(validityDays) * 86_400), root.certificate.notValidAfter)
        return try Certificate(
            version: .v3,
            serialNumber: SerialNumbers.random(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-5 * 60),
            notValidAfter: notValidAfter,
            issuer: root.certificate.subject,
            subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                Critical(try ExtendedKeyUsage([.timeStamping]))
                SubjectKeyIdentifier(keyIdentifier: RootAuthority.keyIdentifier(of: publicKey)[...])
                AuthorityKeyIdentifier(keyIdentifier: root.keyIdentifier[...])
            },
            issuerPrivateKey: root.privateKey
        )
    }

    /// Loads the TSA key and certificate from CUHK's directory, or issues them there.
    ///
    /// Idempotent and crash-safe: with neither file, a new key is written (0600, never over an existing one), its
    /// certificate recorded in `cuhk.db`, then written; a start that finds the key without its certificate writes
    /// the recorded certificate of that key, or issues one when none was recorded. A certificate without its key
    /// is an error, as is a pair that does not match or was not issued by `root`.
    ///
    /// - Parameters:
    ///   - configuration: The directory and the validity of a new certificate.
    ///   - root: CUHK's root.
    ///   - registry: Where the certificate is recorded.
    ///   - now: The issue time.
    ///   - checkpoint: Called after each step of an issue; tests throw there.
    /// - Returns: The TSA certificate and key, and what was done.
    /// - Throws: ``LoadError``, `FileError`, or the registry's error.
    public static func loadOrIssue(
        _ configuration: Configuration, root: RootAuthority, registry: any TimestampRegistry, now: Date = Date(),
        checkpoint: (IssueStep) throws -> Void = { _ in }
    ) async throws -> (TimestampAuthorityCertificate, Origin) {
        let keyPath = configuration.keyPath
        let certificatePath = configuration.certificatePath
        switch (SecureFile.exists(keyPath), SecureFile.exists(certificatePath)) {
        case (true, true):
            let key = try loadKey(configuration)
            let certificate = try loadCertificate(at: certificatePath)
            guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw LoadError.keyDoesNotMatchCertificate(keyPath: keyPath, certificatePath: certificatePath)
            }
            try check(certificate, at: certificatePath, root: root)
            return (TimestampAuthorityCertificate(certificate: certificate, privateKey: key), .loaded)
        case (false, true):
            throw LoadError.certificateWithoutKey(certificatePath: certificatePath, keyPath: keyPath)
        case (true, false):
            let key = try loadKey(configuration)
            return try await certify(
                key, configuration, root: root, registry: registry, now: now, checkpoint: checkpoint)
        case (false, false):
            let key = P256.Signing.PrivateKey()
            try SecureFile.createDirectory(configuration.directory)
            try SecureFile.write(key.pemRepresentation, to: keyPath, mode: SecureFile.privateMode, replacing: false)
            try checkpoint(.wroteKey)
            return try await certify(
                key, configuration, root: root, registry: registry, now: now, checkpoint: checkpoint)
        }
    }

    /// Writes the recorded certificate of `key`, or issues, records and writes a new one.
    private static func certify(
        _ key: P256.Signing.PrivateKey, _ configuration: Configuration, root: RootAuthority,
        registry: any TimestampRegistry, now: Date, checkpoint: (IssueStep) throws -> Void
    ) async throws -> (TimestampAuthorityCertificate, Origin) {
        let publicKey = Certificate.PublicKey(key.publicKey)
        let recorded = try await registry.timestampAuthorityCertificates().first { certificate in
            certificate.publicKey == publicKey && (try? check(certificate, at: "", root: root)) != nil
        }
        let certificate: Certificate
        let origin: Origin
        if let recorded {
            (certificate, origin) = (recorded, .recovered)
        } else {
            certificate = try make(key: key, root: root, validityDays: configuration.validityDays, now: now)
            // Recorded before the file is written: a certificate in use is always in the registry.
            try await registry.recordTimestampAuthorityCertificate(certificate, issuedAt: now)
            origin = .issued
        }
        try checkpoint(.recorded)
        try SecureFile.write(
            try certificate.serializeAsPEM().text, to: configuration.certificatePath, mode: SecureFile.publicMode,
            replacing: false)
        try checkpoint(.wroteCertificate)
        return (TimestampAuthorityCertificate(certificate: certificate, privateKey: key), origin)
    }

    private static func loadKey(_ configuration: Configuration) throws -> P256.Signing.PrivateKey {
        let path = configuration.keyPath
        do {
            try SecureFile.checkPrivate(path, allowed: configuration.allowInsecureKeyPermissions)
        } catch {
            throw LoadError.unreadable(path: path, reason: "\(error)")
        }
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: try SecureFile.readText(at: path) ?? "")
        } catch {
            throw LoadError.unreadable(
                path: path, reason: "it is not an ECDSA P-256 private key in PEM (it may be cut short)")
        }
    }

    private static func loadCertificate(at path: String) throws -> Certificate {
        do {
            return try Certificate(pemEncoded: try SecureFile.readText(at: path) ?? "")
        } catch {
            throw LoadError.unreadable(path: path, reason: "it is not a valid PEM certificate (it may be cut short)")
        }
    }

    /// Checks that `certificate` was issued by `root` and has the TSA profile.
    private static func check(_ certificate: Certificate, at path: String, root: RootAuthority) throws {
        guard certificate.issuer == root.certificate.subject,
            root.certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
        else {
            throw LoadError.notIssuedByRoot(certificatePath: path)
        }
        if let failure = TimestampAuthorityPolicy().failure(for: certificate) {
            throw LoadError.wrongProfile(certificatePath: path, reason: failure)
        }
        guard P256.Signing.PublicKey(certificate.publicKey) != nil else {
            throw LoadError.wrongProfile(certificatePath: path, reason: "its key is not an ECDSA P-256 key")
        }
    }

    /// A warning when the certificate is not valid at `now`: tokens signed with it would not verify.
    public func validityWarning(now: Date = Date()) -> String? {
        if now > certificate.notValidAfter {
            return
                "the timestamp authority certificate expired at \(ReceiptDocument.timestamp(certificate.notValidAfter)); "
                + "timestamp requests are refused until cuhk-tsa.key and cuhk-tsa.cer are moved away and CUHK "
                + "restarted, which issues a new one"
        }
        if now < certificate.notValidBefore {
            return "the timestamp authority certificate is not valid before "
                + "\(ReceiptDocument.timestamp(certificate.notValidBefore)); timestamp requests are refused until then"
        }
        return nil
    }
}
