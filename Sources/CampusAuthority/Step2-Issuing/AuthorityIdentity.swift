import CampusPKI
import Foundation
import Synchronization
import X509

/// CUHK's own enrollment certificate, which it authenticates every enrollment channel with.
///
/// CUHK issues it to itself from the root it holds: an ECDSA P-256 key made in memory (never written to disk: the
/// root key beside it is worth more), a certificate with the service profile and the DNS name `cuhk`
/// (``EnrollmentChannel/authorityName``), valid for ``validityDays`` days and recorded in CUHK's store with the
/// services' certificates. It is made at the first enrollment after a start and replaced once half its validity has
/// passed, so the operator has nothing to do and a stolen one is worthless within weeks.
///
/// Every enrollment asks for the credentials; while the current ones are good they are read under a lock, on the
/// asking connection's thread. Only making new ones goes through the actor, so two connections never make two.
public actor AuthorityIdentity {
    /// Validity of each enrollment certificate, in days.
    public static let validityDays = 30

    private let root: RootAuthority
    private let registry: any AuthorityStore
    private let now: @Sendable () -> Date
    /// The credentials in use, set only by the actor once they are recorded.
    private let current = Mutex<AuthorityEnrollment.Credentials?>(nil)
    private var issuing: Task<AuthorityEnrollment.Credentials, any Error>?

    public init(
        root: RootAuthority, registry: any AuthorityStore, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.root = root
        self.registry = registry
        self.now = now
    }

    /// The certificate and key to authenticate a channel with, issued first when there is none or when half of the
    /// current one's validity has passed.
    ///
    /// - Throws: ``CampusError`` with `issuance-failed` when a new one cannot be recorded.
    public nonisolated func credentials() async throws -> AuthorityEnrollment.Credentials {
        let time = now()
        if let current = current.withLock({ $0 }), Self.isFresh(current, at: time) { return current }
        return try await renewedCredentials(at: time)
    }

    /// Whether `credentials` are before the halfway point of their validity at `time`.
    private static func isFresh(_ credentials: AuthorityEnrollment.Credentials, at time: Date) -> Bool {
        let certificate = credentials.certificate
        let halfway = certificate.notValidBefore.addingTimeInterval(
            certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) / 2)
        return time < halfway
    }

    /// Issues new credentials, or waits for the ones another connection is having issued.
    private func renewedCredentials(at time: Date) async throws -> AuthorityEnrollment.Credentials {
        if let current = current.withLock({ $0 }), Self.isFresh(current, at: time) { return current }
        if let issuing { return try await issuing.value }
        let root = root
        let registry = registry
        let task = Task {
            let service = try await ServiceCertificate.issue(
                name: EnrollmentChannel.authorityName, root: root, recordingIn: registry,
                validityDays: Self.validityDays,
                now: time)
            return try AuthorityEnrollment.Credentials(certificate: service.certificate, privateKey: service.privateKey)
        }
        issuing = task
        defer { issuing = nil }
        let credentials = try await task.value
        current.withLock { $0 = credentials }
        return credentials
    }
}
