import CampusPKI
import Foundation
import Synchronization

/// A registry that forgets everything on exit; for unit tests.
public final class InMemoryCertificateRegistry: CertificateRegistry {
    private let entries = Mutex<[IssuedCertificate]>([])

    public init() {}

    public func record(_ certificate: IssuedCertificate) async throws {
        try entries.withLock { entries in
            guard !entries.contains(where: { $0.serial == certificate.serial }) else {
                throw RegistryError.duplicateSerial(certificate.serial)
            }
            entries.append(Self.standing(certificate, in: entries))
        }
    }

    /// The certificate with ``IssuedCertificate/isRosterAuthorized`` set from its authorization.
    static func standing(_ certificate: IssuedCertificate, in entries: [IssuedCertificate]) -> IssuedCertificate {
        var certificate = certificate
        certificate.isRosterAuthorized =
            switch certificate.authorization {
            case .enrollmentCode: true
            case .renewal(let serial): entries.first { $0.serial == serial }?.isRosterAuthorized ?? false
            case .openEnrollment, .unknown: false
            }
        return certificate
    }

    public func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate] {
        entries.withLock { entries in entries.filter { studentID == nil || $0.studentID == studentID } }
    }

    public func status(ofSerial serial: String) async throws -> CertificateStatus {
        guard let found = entries.withLock({ $0.first { $0.serial == serial.lowercased() } }) else { return .unknown }
        if let revocation = found.revocation { return .revoked(found, revocation) }
        return .good(found)
    }

    public func revoke(serial: String, reason: RevocationReason, at time: Date) async throws -> IssuedCertificate {
        try entries.withLock { entries in
            guard let index = entries.firstIndex(where: { $0.serial == serial.lowercased() }) else {
                throw RegistryError.unknownSerial(serial)
            }
            guard entries[index].revocation == nil else { throw RegistryError.alreadyRevoked(serial) }
            entries[index].revocation = Revocation(time: time, reason: reason)
            return entries[index]
        }
    }

    public func record(_ certificate: IssuedCertificate, superseding serial: String, at time: Date) async throws {
        try entries.withLock { entries in
            guard let index = entries.firstIndex(where: { $0.serial == serial }), entries[index].revocation == nil
            else { throw RegistryError.alreadyRevoked(serial) }
            guard !entries.contains(where: { $0.serial == certificate.serial }) else {
                throw RegistryError.duplicateSerial(certificate.serial)
            }
            entries[index].revocation = Revocation(time: time, reason: .superseded)
            entries.append(Self.standing(certificate, in: entries))
        }
    }

    public func renewal(of serial: String) async throws -> IssuedCertificate? {
        let renewal = CertificateAuthorization.renewal(of: serial.lowercased())
        return entries.withLock { entries in entries.last { $0.authorization == renewal } }
    }

    public func revokeAll(of studentID: StudentID, reason: RevocationReason, at time: Date) async throws
        -> [IssuedCertificate]
    {
        entries.withLock { entries in
            var revoked: [IssuedCertificate] = []
            for index in entries.indices where entries[index].studentID == studentID && entries[index].revocation == nil
            {
                entries[index].revocation = Revocation(time: time, reason: reason)
                revoked.append(entries[index])
            }
            return revoked
        }
    }
}
