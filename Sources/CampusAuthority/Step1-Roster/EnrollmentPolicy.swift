import CampusPKI
import Foundation

/// Who may enroll at CUHK.
public enum EnrollmentPolicy: Sendable, Hashable {
    /// The seed's behaviour, for teaching: anyone may enroll any 10-digit SID.
    case open
    /// Only students on the roster, each with its current, unexpired, unused one-time code.
    case roster(Lockout)

    /// After `attempts` wrong codes for a SID, that SID is locked for `duration` (kept across restarts).
    public struct Lockout: Sendable, Hashable {
        public var attempts: Int
        public var duration: TimeInterval

        public init(attempts: Int = 5, duration: TimeInterval = 15 * 60) {
            self.attempts = attempts
            self.duration = duration
        }
    }

    /// The roster way with the default lockout (5 wrong codes, 15 minutes).
    public static let standard = EnrollmentPolicy.roster(Lockout())
}

/// What the roster says of an enrollment attempt, before anything is signed.
public enum Admission: Sendable, Hashable {
    case admitted
    /// Not on the roster, no current code, or a wrong code: one answer for all, so the roster cannot be probed.
    /// `detail` is for the operator's log.
    case denied(detail: String)
    case expired
    case used
    case locked(until: Date)
}

/// One student's code, as CUHK keeps it (only the hash).
public struct CodeRecord: Sendable, Hashable {
    public var studentID: String
    public var issuedAt: Date
    public var expiresAt: Date
    public var usedAt: Date?
}

/// The roster, the codes and the lockouts, kept with the certificates (`cuhk.db`) so that a code is consumed in
/// the same durable transaction that records the certificate it paid for.
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
    /// Checks an attempt durably: a wrong code counts towards the lockout, a right one resets the count.
    func admit(_ studentID: StudentID, code: EnrollmentCode?, at time: Date, lockout: EnrollmentPolicy.Lockout)
        async throws -> Admission
    /// Records a certificate paid for with `code`, in one transaction: the code is marked used (if another
    /// request used it first, nothing is recorded and ``RegistryError/codeAlreadyUsed`` is thrown), the student's
    /// earlier certificates are revoked as superseded, and the certificate is recorded.
    func record(_ certificate: IssuedCertificate, consuming code: EnrollmentCode, at time: Date) async throws
}
