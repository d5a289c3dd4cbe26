import CampusPKI
import Foundation

/// Who may enroll at CUHK.
public enum EnrollmentPolicy: Sendable, Hashable {
    /// The seed's behaviour, for teaching: anyone may enroll any 10-digit SID.
    case open
    /// Only students on the roster, each with its current, unexpired, unused one-time code; wrong codes are throttled
    /// per source address.
    case roster(EnrollmentThrottle.Configuration)

    /// The roster way with the default throttle.
    public static let standard = EnrollmentPolicy.roster(EnrollmentThrottle.Configuration())
}

/// What the roster says of a proof of a code, before anything is signed. Nothing is written for it.
public enum Admission: Sendable, Hashable {
    /// The proof is the student's current code's: the code (by its hash) to consume with the certificate.
    case admitted(codeHash: [UInt8])
    /// Not on the roster, no current code, no proof, or a proof of another code: one answer for all, so the roster
    /// cannot be probed. `detail` is for the operator's log.
    case denied(detail: String)
    case expired
    /// The code was used; `certificateSerial` is the certificate it paid for, when known.
    case used(certificateSerial: String?)
}

/// One student's code, as CUHK keeps it (only the hash).
public struct CodeRecord: Sendable, Hashable {
    public var studentID: String
    public var issuedAt: Date
    public var expiresAt: Date
    public var usedAt: Date?
    /// SHA-256 of the canonical code.
    public var hash: [UInt8]
    /// The certificate the code paid for, once used.
    public var certificateSerial: String?

    public init(
        studentID: String, issuedAt: Date, expiresAt: Date, usedAt: Date? = nil, hash: [UInt8] = [],
        certificateSerial: String? = nil
    ) {
        self.studentID = studentID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.hash = hash
        self.certificateSerial = certificateSerial
    }
}

/// The roster and the codes, kept with the certificates (`cuhk.db`) so that a code is consumed in the same durable
/// transaction that records the certificate it paid for.
public protocol EnrollmentRoster: Sendable {
    /// Adds new students and updates the names and e-mail addresses of known ones, in one transaction.
    ///
    /// - Returns: How many were added and how many updated.
    func importRoster(_ entries: [RosterEntry]) async throws -> (added: Int, updated: Int)
    /// The students on the roster, by SID.
    func rosterEntries() async throws -> [RosterEntry]
    /// Removes a student from the roster (with any code); `false` if the SID was not on it.
    func removeFromRoster(_ studentID: StudentID) async throws -> Bool
    /// Stores a new code for a student on the roster, replacing the old one.
    ///
    /// - Returns: `false` if the SID is not on the roster.
    func storeCode(_ code: EnrollmentCode, for studentID: StudentID, issuedAt: Date, expiresAt: Date) async throws
        -> Bool
    /// Each student's current code, by SID.
    func codes() async throws -> [CodeRecord]
    /// The current code of a student on the roster; `nil` when the SID is not on the roster or has no code. Only
    /// reads.
    func code(for studentID: StudentID) async throws -> CodeRecord?
    /// Records a certificate paid for with the code whose hash is `codeHash`, in one transaction: the code is marked
    /// used by this certificate (if another request used it first, nothing is recorded and
    /// ``RegistryError/codeAlreadyUsed`` is thrown), the student's earlier certificates are revoked as superseded,
    /// and the certificate is recorded.
    func record(_ certificate: IssuedCertificate, consumingCode codeHash: [UInt8], at time: Date) async throws
}
