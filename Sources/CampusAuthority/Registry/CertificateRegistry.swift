import CampusPKI
import Foundation

/// Where CUHK records what it issues. A certificate is recorded durably before it is sent.
public protocol CertificateRegistry: Sendable {
    /// Records a certificate; returns only after a durable commit.
    ///
    /// - Throws: ``RegistryError/duplicateSerial(_:)`` when the serial is already recorded.
    func record(_ certificate: IssuedCertificate) async throws

    /// The recorded certificates, oldest first; only those of `studentID` when given.
    func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate]

    /// What the registry says of `serial` (lower-case hex).
    func status(ofSerial serial: String) async throws -> CertificateStatus

    /// Revokes one certificate durably.
    ///
    /// - Returns: The certificate, with its revocation.
    /// - Throws: ``RegistryError/unknownSerial(_:)``, ``RegistryError/alreadyRevoked(_:)``.
    func revoke(serial: String, reason: RevocationReason, at time: Date) async throws -> IssuedCertificate

    /// Records a renewed certificate and revokes the one it replaces (reason `superseded`), in one transaction; the
    /// registry remembers which certificate renewed which (``renewal(of:)``).
    ///
    /// - Throws: ``RegistryError/alreadyRevoked(_:)`` when the old certificate was revoked meanwhile (a second
    ///   renewal of the same certificate); then nothing is recorded.
    func record(_ certificate: IssuedCertificate, superseding serial: String, at time: Date) async throws

    /// The certificate recorded as the renewal of `serial`, if any: a renewal whose answer was lost is answered
    /// with it again.
    func renewal(of serial: String) async throws -> IssuedCertificate?

    /// Revokes every certificate of a student that is not revoked yet, durably.
    ///
    /// - Returns: The certificates revoked now (none if there were none).
    func revokeAll(of studentID: StudentID, reason: RevocationReason, at time: Date) async throws
        -> [IssuedCertificate]

    /// What the registry says of a service certificate's serial (lower-case hex), for the OCSP responder.
    func serviceCertificateStatus(ofSerial serial: String) async throws -> ServiceCertificateStatus

    /// Every revoked certificate's serial with its revocation, in the order they were revoked: what the revocation
    /// list says.
    func revokedSerials() async throws -> [RevokedSerial]
}

extension CertificateRegistry {
    /// A registry that keeps no service certificates knows none.
    public func serviceCertificateStatus(ofSerial serial: String) async throws -> ServiceCertificateStatus {
        .unknown
    }
}

/// What the registry says of a service certificate's serial.
public enum ServiceCertificateStatus: Sendable, Hashable {
    case good(ServiceCertificateRecord)
    case revoked(ServiceCertificateRecord, Revocation)
    case unknown
}

/// A revoked certificate, as the revocation list names it.
public struct RevokedSerial: Sendable, Hashable {
    /// Lower-case hex.
    public var serial: String
    public var revocation: Revocation

    public init(serial: String, revocation: Revocation) {
        self.serial = serial
        self.revocation = revocation
    }
}

extension CertificateRegistry {
    /// From every recorded certificate; a registry with an index does better.
    public func revokedSerials() async throws -> [RevokedSerial] {
        try await certificates(for: nil).compactMap { certificate in
            certificate.revocation.map { RevokedSerial(serial: certificate.serial, revocation: $0) }
        }.sorted { ($0.revocation.time, $0.serial) < ($1.revocation.time, $1.serial) }
    }
}

/// A registry failure.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    case duplicateSerial(String)
    case unknownSerial(String)
    case alreadyRevoked(String)
    case codeAlreadyUsed

    public var description: String {
        switch self {
        case .duplicateSerial(let serial): "serial \(serial) is recorded already"
        case .unknownSerial(let serial): "no certificate with serial \(serial) was issued by this CUHK"
        case .alreadyRevoked(let serial): "the certificate with serial \(serial) is revoked already"
        case .codeAlreadyUsed: "the enrollment code was used by another request first"
        }
    }
}
