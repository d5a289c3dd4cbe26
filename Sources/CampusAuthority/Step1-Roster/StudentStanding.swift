import CampusPKI
import Foundation

/// Where a student on the roster stands: their current certificate and their code; for `cuhk roster list` and the
/// web interface's roster. Nothing about a student can lock them out: wrong codes count against source addresses
/// (``EnrollmentThrottle``), and a right code is always accepted.
public struct StudentStanding: Sendable, Hashable {
    /// The state of a student's latest code.
    public enum CodeState: String, Sendable, Hashable {
        case none, active, used, expired
    }

    public var entry: RosterEntry
    /// The valid certificate that traces back to an enrollment code, if the student has one: only such a
    /// certificate counts as enrolled.
    public var certificate: IssuedCertificate?
    /// Valid certificates for the student's SID that do not trace back to an enrollment code (open enrollment, or
    /// issued before CUHK recorded how): whoever took them may not be the student.
    public var certificatesNotFromRoster: [IssuedCertificate]
    /// Whether any of the student's certificates was revoked.
    public var hasRevokedCertificate: Bool
    /// The latest code issued to the student.
    public var code: CodeRecord?
    public var codeState: CodeState

    /// `enrolled`, `revoked` (no valid certificate, a revoked one) or `not enrolled`.
    public var enrollment: String {
        certificate != nil ? "enrolled" : hasRevokedCertificate ? "revoked" : "not enrolled"
    }

    /// Every student on the roster, by SID.
    public static func all(in registry: some CertificateRegistry & EnrollmentRoster, at now: Date = Date()) async throws
        -> [StudentStanding]
    {
        let certificates = Dictionary(grouping: try await registry.certificates(for: nil), by: \.studentID)
        let codes = Dictionary(try await registry.codes().map { ($0.studentID, $0) }, uniquingKeysWith: { $1 })
        return try await registry.rosterEntries().map { entry in
            let held = certificates[entry.studentID] ?? []
            let code = codes[entry.studentID.rawValue]
            let codeState: CodeState =
                code.map { $0.usedAt != nil ? .used : $0.expiresAt <= now ? .expired : .active } ?? .none
            return StudentStanding(
                entry: entry, certificate: held.last { $0.isValid(at: now) && $0.isRosterAuthorized },
                certificatesNotFromRoster: held.filter { $0.isValid(at: now) && !$0.isRosterAuthorized },
                hasRevokedCertificate: held.contains { $0.revocation != nil }, code: code, codeState: codeState)
        }
    }
}
