import CampusPKI

/// Where CUHK records what it issues. A certificate is recorded durably before it is sent.
public protocol CertificateRegistry: Sendable {
    /// Records a certificate; returns only after a durable commit.
    ///
    /// - Throws: ``RegistryError/duplicateSerial(_:)`` when the serial is already recorded.
    func record(_ certificate: IssuedCertificate) async throws

    /// The recorded certificates, oldest first; only those of `studentID` when given.
    func certificates(for studentID: StudentID?) async throws -> [IssuedCertificate]
}

/// A registry failure.
public enum RegistryError: Error, Sendable, Equatable {
    case duplicateSerial(String)
}
