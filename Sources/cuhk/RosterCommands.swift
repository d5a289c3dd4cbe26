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
            let text: String
            do {
                guard let read = try SecureFile.readText(at: file, limit: 16 << 20) else {
                    Terminal.error("cuhk roster import: \(file) does not exist")
                    throw ExitCode(1)
                }
                text = read
            } catch let error as FileError {
                Terminal.error("cuhk roster import: \(error)")
                throw ExitCode(1)
            }
            let entries: [RosterEntry]
            do {
                entries = try RosterCSV.parse(text)
            } catch let error as RosterCSV.ImportError {
                for line in "\(error)".split(separator: "\n") { Terminal.error(String(line)) }
                throw ExitCode(1)
            }
            let registry = try RegistryFile.open(in: dir, by: "cuhk roster import", writing: true, creating: true)
            let (added, updated) = try await registry.importRoster(entries)
            Terminal.line("Roster imported: \(Count.of(added, "student")) added, \(updated) updated")
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
            Terminal.line(
                "No student can be locked out: wrong codes are throttled per network address (cuhk throttle list), "
                    + "and a right code is always accepted.")
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
                student's old one. Hand each student their code: `student` asks for it (without echo), or reads it \
                with --code-file; it never goes on a command line.
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

    var enrollmentSummary: String {
        switch enrollment {
        case "enrolled": "enrolled \(serial?.prefix(8) ?? "")… until \(notAfter?.prefix(10) ?? "")"
        default: enrollment
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
                codeExpiresAt: standing.code.map { JSONOutput.timestamp($0.expiresAt) })
        }
    }
}

struct Throttle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Network addresses throttled after too many wrong enrollment codes.",
        discussion: """
            An address (IPv4, or an IPv6 /64) that sends more wrong codes than its budget (cuhk serve \
            --throttle-attempts) gets enrollment-throttled for its wrong codes until the time listed; a right code is \
            always accepted. These commands work while CUHK runs.
            """,
        subcommands: [List.self, Clear.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the throttled addresses.")

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let registry = try RegistryFile.open(in: dir, by: "cuhk throttle list", writing: false)
            let throttled = try await registry.throttledAddresses(at: Date())
            if json {
                try JSONOutput.print(
                    throttled.map {
                        ThrottledJSON(
                            address: $0.address.description, since: JSONOutput.timestamp($0.since),
                            until: JSONOutput.timestamp($0.until))
                    })
                return
            }
            Terminal.line("ADDRESS                   SINCE                 UNTIL")
            for entry in throttled {
                Terminal.line(
                    [
                        entry.address.description.padded(to: 24), JSONOutput.timestamp(entry.since),
                        JSONOutput.timestamp(entry.until),
                    ].joined(separator: "  "))
            }
            Terminal.line(Count.of(throttled.count, "address", plural: "addresses") + " throttled")
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the throttle of one address, or of all.")

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @Argument(help: "The address, as cuhk throttle list shows it (an IPv4 address, or an IPv6 address or /64).")
        var address: String?

        @Flag(help: "Lift every throttle.")
        var all = false

        func validate() throws {
            guard (address == nil) == all else { throw ValidationError("give either an ADDRESS or --all") }
            if let address, SourceAddress(address) == nil {
                throw ValidationError("\"\(ControlCharacters.escaped(address))\" is not an IP address")
            }
        }

        func run() async throws {
            let registry = try RegistryFile.open(in: dir, by: "cuhk throttle clear", writing: true)
            let lifted = try await registry.clearThrottle(address.flatMap(SourceAddress.init))
            if !all, lifted == 0 {
                Terminal.error("cuhk throttle clear: \(address ?? "") is not throttled")
                throw ExitCode(1)
            }
            Terminal.line("\(Count.of(lifted, "address", plural: "addresses")) no longer throttled")
        }
    }
}

/// One address in `cuhk throttle list --json`.
struct ThrottledJSON: Encodable {
    var address: String
    var since: String
    var until: String
}
