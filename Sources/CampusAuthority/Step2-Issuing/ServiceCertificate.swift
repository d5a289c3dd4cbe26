import CampusPKI
import Crypto
import Foundation
import SwiftASN1
import X509

/// Blackboard's own certificate, which the next session version signs every handshake with.
///
/// `cuhk service issue` makes it where CUHK's key is: a service is set up once, by the person who runs CUHK, so it
/// needs no enrollment protocol and no code, and in the seed's single directory the files land where Blackboard
/// reads them. The profile differs from a student's in every field a verifier checks (ECDSA P-256 instead of RSA,
/// serverAuth instead of clientAuth, digitalSignature only, a DNS name instead of a SID), so neither can stand in
/// for the other.
public struct ServiceCertificate: Sendable {
    /// Files of a service: `<name>.key` (mode 0600) and `<name>.cer`, in the service's directory.
    public static func keyPath(name: String, in directory: String) -> String {
        SecureFile.join(directory, "\(name).key")
    }

    public static func certificatePath(name: String, in directory: String) -> String {
        SecureFile.join(directory, "\(name).cer")
    }

    /// The certificate.
    public let certificate: Certificate
    /// Its private key (ECDSA P-256).
    public let privateKey: P256.Signing.PrivateKey

    /// Whether `name` can be a DNS name: letters, digits and hyphens in dot-separated labels.
    public static func isValidName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !name.isEmpty && name.count <= 253
            && labels.allSatisfy { label in
                (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
    }

    /// Issues a service certificate for `name` with a new P-256 key, and records it.
    ///
    /// - Parameter ocspURL: CUHK's OCSP responder, written in the certificate's Authority Information Access so
    ///   that whoever checks a receipt can ask whether the certificate was revoked; `nil` writes none.
    /// - Throws: ``CampusError`` with `issuance-failed` when it cannot be recorded.
    public static func issue(
        name: String, root: RootAuthority, recordingIn registry: any AuthorityStore, validityDays: Int = 365,
        ocspURL: String? = nil, clockSkewAllowance: TimeInterval = 5 * 60, now: Date = Date()
    ) async throws -> ServiceCertificate {
        let service = try make(
            name: name, root: root, validityDays: validityDays, ocspURL: ocspURL,
            clockSkewAllowance: clockSkewAllowance, now: now)
        try await service.record(name: name, in: registry, now: now)
        return service
    }

    /// Makes a service certificate for `name` with a new P-256 key, in memory only.
    public static func make(
        name: String, root: RootAuthority, validityDays: Int = 365, ocspURL: String? = nil,
        clockSkewAllowance: TimeInterval = 5 * 60, now: Date = Date()
    ) throws -> ServiceCertificate {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let organisation = root.certificate.subject.flatMap { rdn in
            rdn.filter {
                $0.type == .RDNAttributeType.organizationName || $0.type == .RDNAttributeType.organizationalUnitName
            }
        }
        let subject = DistinguishedName(
            organisation.map { RelativeDistinguishedName($0) }
                + [RelativeDistinguishedName(.init(type: .RDNAttributeType.commonName, utf8String: name))])
        let certificate = try Certificate(
            version: .v3,
            serialNumber: SerialNumbers.random(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-clockSkewAllowance),
            notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
            issuer: root.certificate.subject,
            subject: subject,
            signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(name)])
                SubjectKeyIdentifier(keyIdentifier: RootAuthority.keyIdentifier(of: publicKey)[...])
                AuthorityKeyIdentifier(keyIdentifier: root.keyIdentifier[...])
                if let ocspURL {
                    AuthorityInformationAccess([
                        .init(method: .ocspServer, location: .uniformResourceIdentifier(ocspURL))
                    ])
                }
            },
            issuerPrivateKey: root.privateKey
        )
        return ServiceCertificate(certificate: certificate, privateKey: key)
    }

    /// Records the certificate in the registry, durably, so that the OCSP responder knows it and it can be revoked.
    ///
    /// - Throws: ``CampusError`` with `issuance-failed` when it cannot be recorded.
    public func record(name: String, in registry: any AuthorityStore, now: Date = Date()) async throws {
        do {
            try await registry.recordServiceCertificate(
                name: name, serial: certificate.serialNumber.hex, notValidBefore: certificate.notValidBefore,
                notValidAfter: certificate.notValidAfter, pem: try certificate.serializeAsPEM().text,
                issuedAt: now)
        } catch {
            throw CampusError(
                .issuanceFailed, "the certificate could not be recorded, so it was not issued", storing: error)
        }
    }

    /// Writes `<name>.key` (0600, never over an existing key) and `<name>.cer` into `directory`.
    public func write(name: String, to directory: String) throws {
        try SecureFile.createDirectory(directory)
        try SecureFile.write(
            privateKey.pemRepresentation, to: Self.keyPath(name: name, in: directory), mode: SecureFile.privateMode,
            replacing: false)
        try SecureFile.write(
            try certificate.serializeAsPEM().text, to: Self.certificatePath(name: name, in: directory),
            mode: SecureFile.publicMode, replacing: true)
    }
}
