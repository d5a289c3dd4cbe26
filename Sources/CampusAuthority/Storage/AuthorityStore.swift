import CampusAdmin
import CampusPKI
import Foundation

/// Everything CUHK keeps, as the operations its rules need: certificates with what authorized them and their
/// revocations, the services' certificates, the roster and its codes, the throttle of wrong codes, timestamp tokens,
/// settings, the web interface's sessions and a readiness probe.
///
/// One protocol for every engine: SQLite (`cuhk.db` beside the root, one CUHK), PostgreSQL (several CUHK instances
/// sharing one database) and memory (tests); one conformance suite holds them to the same behaviour. Rules stay in
/// Swift (who may enroll, the throttle's arithmetic, when a certificate supersedes another); a store offers atomic
/// steps, each one durable transaction, so that instances racing on one database still get one outcome:
/// ``EnrollmentRoster/record(_:consumingCode:at:)`` consumes a code exactly once with the certificate it pays for,
/// ``CertificateRegistry/record(_:superseding:at:)`` supersedes a certificate once, and
/// ``ThrottleRecords/recordFailure(from:at:budget:)`` counts a wrong code against one budget. Nothing is cached: a
/// revocation committed by any instance or command is what the next OCSP answer and revocation list say.
///
/// The root key is never in a store: it stays a file beside the root certificate.
public protocol AuthorityStore: CertificateRegistry, EnrollmentRoster, ThrottleRecords, TimestampRegistry,
    AdminSessionStore
{
    /// Where the records are, for messages and the log: the file's path, or the database's URL without its password.
    var location: String { get }

    /// A setting (CUHK's and Blackboard's addresses for the code slips, the responder's URL, the enrollment policy).
    func setting(_ name: String) async throws -> String?
    /// Records a setting, durably.
    func recordSetting(_ name: String, _ value: String) async throws

    /// The certificates not revoked and not expired at `time` that do not trace back to an enrollment code (open
    /// enrollment, unknown, or renewals of those) and whose SID is on the roster: what `cuhk roster import`
    /// reports, because under the roster their holders may not be the students they name.
    func certificatesNotFromRoster(onRosterAt time: Date) async throws -> [IssuedCertificate]

    /// Revokes, in one transaction, every certificate not revoked yet that does not trace back to an enrollment
    /// code (`cuhk revoke --open-enrollment`), whatever its SID.
    ///
    /// - Returns: The certificates revoked now.
    func revokeAllNotFromRoster(reason: RevocationReason, at time: Date) async throws -> [IssuedCertificate]

    /// Records a service certificate (Blackboard's, CUHK's own enrollment certificate, the TSA's), durably, before
    /// it is used or written out.
    ///
    /// - Throws: ``RegistryError/duplicateSerial(_:)`` when the serial is recorded already.
    func recordServiceCertificate(
        name: String, serial: String, notValidBefore: Date, notValidAfter: Date, pem: String, issuedAt: Date
    ) async throws

    /// The services' certificates, oldest first.
    func serviceCertificates() async throws -> [ServiceCertificateRecord]

    /// Revokes service certificates durably (`cuhk service revoke`): the one with `serial`, or every one not revoked
    /// yet for the DNS name `name`.
    ///
    /// - Returns: The certificates revoked now.
    /// - Throws: ``RegistryError/unknownSerial(_:)`` or ``RegistryError/alreadyRevoked(_:)`` for a serial.
    func revokeServiceCertificates(serial: String?, name: String?, reason: RevocationReason, at time: Date)
        async throws -> [ServiceCertificateRecord]

    /// Commits one small durable write: throws when the store cannot take writes now (`/readyz`).
    func probeWrite(at time: Date) async throws
}

extension AuthorityStore {
    /// The setting that remembers how CUHK last started (``lastStartedOpen()``).
    static var enrollmentSetting: String { "enrollment" }

    /// How many students are on the roster (read at start, to tell an operator with an empty roster what to do).
    public func rosterCount() async throws -> Int {
        try await rosterEntries().count
    }

    /// Remembers whether CUHK last started with open enrollment, so `cuhk roster list` can warn.
    public func recordEnrollmentPolicy(_ policy: EnrollmentPolicy) async throws {
        try await recordSetting(Self.enrollmentSetting, policy == .open ? "open" : "roster")
    }

    /// Whether CUHK last started with open enrollment.
    public func lastStartedOpen() async throws -> Bool {
        try await setting(Self.enrollmentSetting) == "open"
    }

    /// Commits the readiness probe now.
    public func probeWrite() async throws {
        try await probeWrite(at: Date())
    }

    /// The certificates that do not trace back to a code and whose SID is on the roster, now.
    public func certificatesNotFromRoster() async throws -> [IssuedCertificate] {
        try await certificatesNotFromRoster(onRosterAt: Date())
    }
}
