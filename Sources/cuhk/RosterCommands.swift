import ArgumentParser
import CampusAuthority
import CampusCommandLine
import CampusPKI
import Foundation

struct Roster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The students who may enroll.",
        subcommands: [Import.self, List.self, Remove.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a roster CSV (header sid,name and optionally email): all rows or none.",
            discussion: "Known SIDs get the new name and e-mail address; new SIDs are added; none are removed."
        )

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @Argument(help: "The CSV file.")
        var file: String

        func run() async throws {
            let bytes: [UInt8]
            do {
                guard let read = try SecureFile.readBytes(at: file, limit: 16 << 20) else {
                    Terminal.error("cuhk roster import: \(file) does not exist")
                    throw ExitCode(1)
                }
                bytes = read
            } catch let error as FileError {
                Terminal.error("cuhk roster import: \(error)")
                throw ExitCode(1)
            }
            let entries: [RosterEntry]
            do {
                entries = try RosterCSV.parse(bytes: bytes)
            } catch let error as RosterCSV.ImportError {
                for line in "\(error)".split(separator: "\n") { Terminal.error(String(line)) }
                throw ExitCode(1)
            }
            let registry = try RegistryFile.open(in: dir, by: "cuhk roster import", writing: true, creating: true)
            let (added, updated) = try await registry.importRoster(entries)
            Terminal.line("Roster imported: \(Count.of(added, "student")) added, \(updated) updated")
            try await Self.reportCertificatesNotFromRoster(in: registry)
        }

        /// Names the valid certificates of roster students that no code paid for, and the commands that revoke them:
        /// under the roster they do not count as enrolled, but they still open sessions at Blackboard until revoked.
        static func reportCertificatesNotFromRoster(in registry: SQLiteCertificateRegistry) async throws {
            let outside = try await registry.certificatesNotFromRoster()
            guard !outside.isEmpty else { return }
            Terminal.line(
                "WARNING: \(Count.of(outside.count, "valid certificate")) for students on the roster "
                    + "\(outside.count == 1 ? "was" : "were") not issued through the roster (open enrollment, or "
                    + "before CUHK recorded how), so whoever took \(outside.count == 1 ? "it" : "them") may not be "
                    + "the student; \(outside.count == 1 ? "it does" : "they do") not count as enrolled:")
            for certificate in outside {
                Terminal.line(
                    "  \(certificate.studentID)  serial \(certificate.serial)  \(certificate.authorization), issued "
                        + JSONOutput.timestamp(certificate.issuedAt))
            }
            Terminal.line(
                "Revoke them all with `cuhk revoke --open-enrollment`, or one with `cuhk revoke --serial SERIAL`; "
                    + "`cuhk codes issue --all-unenrolled` issues these students codes.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the roster with each student's status.")

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let registry = try RegistryFile.open(in: dir, by: "cuhk roster list", writing: false)
            if try registry.lastStartedOpen() {
                Terminal.error(
                    "WARNING: CUHK last started with --open-enrollment: anyone may enroll any SID, and this roster "
                        + "is not enforced")
            }
            let rows = try await RosterStatus.rows(registry)
            if json {
                try JSONOutput.print(rows)
                return
            }
            Terminal.line("SID         NAME                      ENROLLMENT                          CODE")
            for row in rows {
                Terminal.line(
                    [
                        row.sid, String(row.name.prefix(24)).padded(to: 24), row.enrollmentSummary.padded(to: 34),
                        row.codeSummary,
                    ].joined(separator: "  "))
            }
            Terminal.line(Count.of(rows.count, "student"))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a student off the roster; their certificates are revoked (affiliationChanged).")

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @Argument(help: "The student ID.")
        var sid: String

        func validate() throws { _ = try ArgumentChecks.studentID(sid, option: "SID") }

        func run() async throws {
            let studentID = StudentID(sid)!
            let registry = try RegistryFile.open(in: dir, by: "cuhk roster remove", writing: true)
            guard try await registry.removeFromRoster(studentID) else {
                Terminal.error("cuhk roster remove: \(studentID) is not on the roster")
                throw ExitCode(1)
            }
            let revoked = try await registry.revokeAll(of: studentID, reason: .affiliationChanged, at: Date())
            Terminal.line("\(studentID) removed from the roster; \(Count.of(revoked.count, "certificate")) revoked")
        }
    }
}

struct Codes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One-time enrollment codes.",
        subcommands: [Issue.self]
    )

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new one-time code to one student or to every student who has not enrolled.",
            discussion: """
                Each code has 100 bits from the system CSPRNG; CUHK keeps only its SHA-256. A new code replaces a \
                student's old one. Hand each student their code: they enroll with `student --code CODE`.
                """
        )

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @Option(help: "The student to issue a code to.")
        var sid: String?

        @Flag(help: "Issue codes to every student on the roster without a valid certificate.")
        var allUnenrolled = false

        @Option(help: "How long the codes stay valid (7d, 12h, 30m).")
        var validFor = DurationArgument(argument: "\(Int(EnrollmentCodes.defaultValidity / 86_400))d")!

        @Flag(help: "Print JSON (for mail merge) instead of a table.")
        var json = false

        @Flag(help: "Print CSV (sid,name,email,code,expires_at) instead of a table.")
        var csv = false

        func validate() throws {
            guard (sid == nil) == allUnenrolled else { throw ValidationError("give either --sid or --all-unenrolled") }
            if let sid { _ = try ArgumentChecks.studentID(sid) }
            guard !(json && csv) else { throw ValidationError("--json and --csv cannot be used together") }
        }

        func run() async throws {
            let registry = try RegistryFile.open(in: dir, by: "cuhk codes issue", writing: true)
            let issued: [IssuedCode]
            do {
                issued = try await EnrollmentCodes.issue(
                    to: sid.flatMap(StudentID.init).map { .student($0) } ?? .allUnenrolled,
                    validFor: validFor.seconds, in: registry)
            } catch let error as EnrollmentCodes.Failure {
                Terminal.error("cuhk codes issue: \(error)")
                throw ExitCode(1)
            }
            let slips = issued.map { issued in
                CodeSlip(
                    sid: issued.entry.studentID.rawValue, name: issued.entry.name, email: issued.entry.email,
                    code: "\(issued.code)", expiresAt: JSONOutput.timestamp(issued.expiresAt))
            }
            if json {
                try JSONOutput.print(slips)
            } else if csv {
                Terminal.line("sid,name,email,code,expires_at")
                for slip in slips {
                    Terminal.line(
                        [
                            slip.sid, CodeSlip.csvField(slip.name), CodeSlip.csvField(slip.email ?? ""), slip.code,
                            slip.expiresAt,
                        ]
                        .joined(separator: ","))
                }
            } else {
                Terminal.line("SID         NAME                      CODE                      EXPIRES AT")
                for slip in slips {
                    Terminal.line(
                        [
                            slip.sid, String(slip.name.prefix(24)).padded(to: 24),
                            slip.code, slip.expiresAt,
                        ].joined(separator: "  "))
                }
                Terminal.line("\(Count.of(slips.count, "code")) issued")
            }
        }
    }
}

/// One code in `cuhk codes issue --json` / `--csv`.
struct CodeSlip: Encodable {
    var sid: String
    var name: String
    var email: String?
    var code: String
    var expiresAt: String

    static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}

/// One student in `cuhk roster list`.
struct RosterStatus: Encodable {
    var sid: String
    var name: String
    var email: String?
    /// `not enrolled`, `enrolled` or `revoked`.
    var enrollment: String
    var serial: String?
    var notAfter: String?
    /// `none`, `active`, `used` or `expired`.
    var code: String
    var codeExpiresAt: String?
    /// Serials of valid certificates for the SID that no enrollment code paid for (open enrollment): they do not
    /// count as enrolled.
    var certificatesNotFromRoster: [String]

    var enrollmentSummary: String {
        switch enrollment {
        case "enrolled": "enrolled \(serial?.prefix(8) ?? "")… until \(notAfter?.prefix(10) ?? "")"
        default:
            certificatesNotFromRoster.isEmpty
                ? enrollment : "\(enrollment); open cert \(certificatesNotFromRoster[0].prefix(8))…"
        }
    }

    var codeSummary: String {
        code == "active" ? "active until \(codeExpiresAt?.prefix(10) ?? "")" : code
    }

    static func rows(_ registry: SQLiteCertificateRegistry) async throws -> [RosterStatus] {
        try await StudentStanding.all(in: registry).map { standing in
            RosterStatus(
                sid: standing.entry.studentID.rawValue, name: standing.entry.name, email: standing.entry.email,
                enrollment: standing.enrollment, serial: standing.certificate?.serial,
                notAfter: standing.certificate.map { JSONOutput.timestamp($0.notValidAfter) },
                code: standing.codeState.rawValue,
                codeExpiresAt: standing.code.map { JSONOutput.timestamp($0.expiresAt) },
                certificatesNotFromRoster: standing.certificatesNotFromRoster.map(\.serial))
        }
    }
}
