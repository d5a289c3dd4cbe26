import CampusPKI
import Foundation

/// What a student needs to enroll and submit, besides their code: where CUHK and Blackboard are, and the fingerprint
/// of CUHK's root to pin, so that the first connection already checks it was CUHK.
///
/// The command on a slip holds no secret: the code is typed at the Student's hidden prompt (or read from a file), so
/// it never appears in a process list or a shell history.
public struct EnrollmentInstructions: Sendable, Hashable {
    /// CUHK's enrollment address, `HOST:PORT`, as `student --ca` takes it.
    public var certificateAuthority: String
    /// Blackboard's address, `HOST:PORT`, as `student --blackboard` takes it.
    public var blackboard: String
    /// The SHA-256 fingerprint of the root certificate's DER, upper-case hex in pairs with colons.
    public var rootFingerprint: String

    /// The `setting` names in `cuhk.db` under which `cuhk serve` records the addresses.
    public static let certificateAuthoritySetting = "ca-address"
    public static let blackboardSetting = "blackboard-address"

    public init(certificateAuthority: String, blackboard: String, rootFingerprint: String) {
        self.certificateAuthority = certificateAuthority
        self.blackboard = blackboard
        self.rootFingerprint = rootFingerprint
    }

    /// The command a student runs: no code in it.
    public func command(for studentID: StudentID) -> String {
        "student --sid \(studentID) --ca \(certificateAuthority) --blackboard \(blackboard) "
            + "--root-fingerprint \(rootFingerprint)"
    }

    /// Blackboard's address when none was given: on a CUHK that students reach on this machine's loopback address,
    /// Blackboard's default there (the seed's single machine); elsewhere there is no safe guess.
    public static func defaultBlackboard(forCertificateAuthority address: String) -> String? {
        guard let parsed = ServerAddress(address), ["127.0.0.1", "::1", "localhost"].contains(parsed.host) else {
            return nil
        }
        return ServerAddress.defaultBlackboard.description
    }
}

/// One student's slip: their code and the instructions, as `cuhk codes issue --slips` prints it for mailing and the
/// web interface prints it on paper.
public struct EnrollmentSlip: Sendable, Hashable {
    public var code: IssuedCode
    public var instructions: EnrollmentInstructions

    public init(code: IssuedCode, instructions: EnrollmentInstructions) {
        self.code = code
        self.instructions = instructions
    }

    /// `2026-12-04T23:28:30Z`.
    public var expiry: String { code.expiresAt.formatted(.iso8601) }

    /// The slip as plain text, ready to mail.
    public var text: String { lines.joined(separator: "\n") }

    /// The slip's lines (the student's name escaped: it came from a roster file).
    public var lines: [String] {
        let studentID = code.entry.studentID
        return [
            "CampusPKI enrollment for \(ControlCharacters.escaped(code.entry.name)) (SID \(studentID))",
            "",
            "Your one-time enrollment code: \(code.code)",
            "It is valid until \(expiry) and works once. Keep it to yourself.",
            "",
            "CUHK (the certificate authority): \(instructions.certificateAuthority)",
            "Blackboard (where reports go):    \(instructions.blackboard)",
            "CUHK's root certificate, SHA-256 fingerprint:",
            "  \(instructions.rootFingerprint)",
            "",
            "To enroll and hand in your report, run:",
            "  \(instructions.command(for: studentID))",
            "When asked for your enrollment code, type: \(code.code)",
        ]
    }
}
