import CampusPKI
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
            entries.append(certificate)
        }
    }

    public func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate] {
        entries.withLock { entries in entries.filter { studentID == nil || $0.studentID == studentID } }
    }
}
