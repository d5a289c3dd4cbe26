import CampusPKI
import Foundation

/// A code just issued to a student: shown once (CUHK keeps only its hash).
public struct IssuedCode: Sendable, Hashable {
    public var entry: RosterEntry
    public var code: EnrollmentCode
    public var issuedAt: Date
    public var expiresAt: Date
}

/// Issuing one-time enrollment codes, for `cuhk codes issue` and the web interface alike.
public enum EnrollmentCodes {
    /// How long a code stays valid unless told otherwise: a week.
    public static let defaultValidity: TimeInterval = 7 * 86_400
    /// How long a code may be made valid for, from `cuhk codes issue --valid-for` or the web interface's form: a
    /// minute to a year.
    public static let validityRange: ClosedRange<TimeInterval> = 60...(365 * 86_400)

    /// Who gets a code.
    public enum Recipients: Sendable, Hashable {
        /// One student on the roster.
        case student(StudentID)
        /// Every student on the roster without a valid certificate that traces back to an enrollment code.
        case allUnenrolled
    }

    /// A code could not be issued.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case notOnRoster(StudentID)
        case invalidValidity

        public var description: String {
            switch self {
            case .notOnRoster(let studentID): "\(studentID) is not on the roster (see cuhk roster import)"
            case .invalidValidity: "a code's validity must be positive"
            }
        }
    }

    /// Issues a new code to each recipient, replacing their old one; only the codes' hashes are stored.
    ///
    /// - Returns: The codes, by SID, to hand out.
    /// - Throws: ``Failure`` before anything is stored, or the registry's error.
    public static func issue(
        to recipients: Recipients, validFor validity: TimeInterval = defaultValidity,
        in registry: some CertificateRegistry & EnrollmentRoster, now: Date = Date()
    ) async throws -> [IssuedCode] {
        guard validity > 0, validity.isFinite else { throw Failure.invalidValidity }
        let roster = try await registry.rosterEntries()
        let targets: [RosterEntry]
        switch recipients {
        case .student(let studentID):
            guard let entry = roster.first(where: { $0.studentID == studentID }) else {
                throw Failure.notOnRoster(studentID)
            }
            targets = [entry]
        case .allUnenrolled:
            // Only a certificate that traces back to a code enrolls: one taken under open enrollment may be anyone's.
            let enrolled = Set(
                try await registry.certificates(for: nil).filter { $0.isValid(at: now) && $0.isRosterAuthorized }
                    .map(\.studentID))
            targets = roster.filter { !enrolled.contains($0.studentID) }
        }
        let expires = now.addingTimeInterval(validity)
        var issued: [IssuedCode] = []
        for entry in targets {
            let code = EnrollmentCode.random()
            guard try await registry.storeCode(code, for: entry.studentID, issuedAt: now, expiresAt: expires) else {
                continue  // taken off the roster meanwhile
            }
            issued.append(IssuedCode(entry: entry, code: code, issuedAt: now, expiresAt: expires))
        }
        return issued
    }
}
