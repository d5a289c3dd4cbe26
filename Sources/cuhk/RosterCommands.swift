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

        @OptionGroup var database: DatabaseOptions

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
            try await RegistryFile.with(
                in: dir, database: database, by: "cuhk roster import", writing: true, creating: true
            ) { registry in
                let (added, updated) = try await registry.importRoster(entries)
                Terminal.line("Roster imported: \(Count.of(added, "student")) added, \(updated) updated")
                try await Self.reportCertificatesNotFromRoster(in: registry)
            }
        }

        /// Names the valid certificates of roster students that no code paid for, and the commands that revoke them:
        /// under the roster they do not count as enrolled, but they still open sessions at Blackboard until revoked.
        static func reportCertificatesNotFromRoster(in registry: any AuthorityStore) async throws {
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

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            try await RegistryFile.with(
                in: dir, database: database, by: "cuhk roster list", writing: false
            ) { registry in
                if try await registry.lastStartedOpen() {
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
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a student off the roster; their certificates are revoked (affiliationChanged).")

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The student ID.")
        var sid: String

        func validate() throws { _ = try ArgumentChecks.studentID(sid, option: "SID") }

        func run() async throws {
            let studentID = StudentID(sid)!
            try await RegistryFile.with(
                in: dir, database: database, by: "cuhk roster remove", writing: true
            ) { registry in
                guard try await registry.removeFromRoster(studentID) else {
                    Terminal.error("cuhk roster remove: \(studentID) is not on the roster")
                    throw ExitCode(1)
                }
                let revoked = try await registry.revokeAll(of: studentID, reason: .affiliationChanged, at: Date())
                Terminal.line("\(studentID) removed from the roster; \(Count.of(revoked.count, "certificate")) revoked")
            }
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
                student's old one. A student counts as enrolled only with a valid certificate paid for with a code \
                (or renewed from one): one taken under open enrollment does not. Hand each student their code with \
                --slips (one text slip each, for mailing): CUHK's and Blackboard's addresses, the root's SHA-256 \
                fingerprint and the command to run, which holds no secret: `student` asks for the code (without echo), or reads it \
                with --code-file; it never goes on a command line.
                """
        )

        @Option(help: "Directory of cuhk.db and cuhk.cer.")
        var dir: String = "."

        @OptionGroup var database: DatabaseOptions

        @Option(help: "The student to issue a code to.")
        var sid: String?

        @Flag(help: "Issue codes to every student on the roster without a valid certificate paid for with a code.")
        var allUnenrolled = false

        @Option(
            help: ArgumentHelp(
                "How long the codes stay valid: \(DurationArgument.form).",
                discussion: "From \(DurationArgument.words(EnrollmentCodes.validityRange.lowerBound)) to "
                    + "\(DurationArgument.words(EnrollmentCodes.validityRange.upperBound))."))
        var validFor = DurationArgument(argument: "\(Int(EnrollmentCodes.defaultValidity / 86_400))d")!

        @Flag(help: "Print one text slip per student, for mailing, instead of a table.")
        var slips = false

        @Flag(help: "Print JSON (for mail merge) instead of a table.")
        var json = false

        @Flag(help: "Print CSV (sid,name,email,code,expires_at) instead of a table.")
        var csv = false

        @Option(help: "CUHK's address as students reach it, HOST:PORT (default: the one cuhk serve recorded).")
        var caAddress: String?

        @Option(
            help: "Blackboard's address as students reach it, HOST:PORT (default: cuhk serve --blackboard-address).")
        var blackboardAddress: String?

        func validate() throws {
            guard (sid == nil) == allUnenrolled else { throw ValidationError("give either --sid or --all-unenrolled") }
            if let sid { _ = try ArgumentChecks.studentID(sid) }
            guard [json, csv, slips].filter({ $0 }).count <= 1 else {
                throw ValidationError("--slips, --json and --csv cannot be used together")
            }
            try DurationArgument.check(validFor, option: "--valid-for", within: EnrollmentCodes.validityRange)
            if let caAddress { _ = try ArgumentChecks.serverAddress(caAddress, option: "--ca-address") }
            if let blackboardAddress {
                _ = try ArgumentChecks.serverAddress(blackboardAddress, option: "--blackboard-address")
            }
        }

        /// What the slips say besides the codes; each missing piece named with the flag or command that supplies it.
        func instructions(_ registry: any AuthorityStore) async throws -> Result<EnrollmentInstructions, Missing> {
            var missing: [String] = []
            var ca = caAddress
            if ca == nil { ca = try await registry.setting(EnrollmentInstructions.certificateAuthoritySetting) }
            if ca == nil {
                missing.append(
                    "CUHK's address (start cuhk serve once, which records it, or give --ca-address HOST:PORT)")
            }
            var blackboard = blackboardAddress
            if blackboard == nil { blackboard = try await registry.setting(EnrollmentInstructions.blackboardSetting) }
            blackboard = blackboard ?? ca.flatMap(EnrollmentInstructions.defaultBlackboard(forCertificateAuthority:))
            if blackboard == nil {
                missing.append(
                    "Blackboard's address (give --blackboard-address HOST:PORT, or start cuhk serve with it)")
            }
            let rootPath = SecureFile.join(dir, RootAuthority.certificateFileName)
            let root: String?
            do {
                root = try RootFile.load(rootPath, required: false)?.sha256Fingerprint
            } catch {
                root = nil
            }
            if root == nil {
                missing.append("the root's fingerprint (\(rootPath) is missing or unreadable; cuhk init)")
            }
            guard let ca, let blackboard, let root else { return .failure(Missing(pieces: missing)) }
            return .success(
                EnrollmentInstructions(certificateAuthority: ca, blackboard: blackboard, rootFingerprint: root))
        }

        /// The pieces of a slip that are not known.
        struct Missing: Error {
            var pieces: [String]
        }

        func run() async throws {
            try await RegistryFile.with(
                in: dir, database: database, by: "cuhk codes issue", writing: true
            ) { registry in
                let instructions = try await instructions(registry)
                if slips, case .failure(let missing) = instructions {
                    // Before any code is made: a slip without an address is the slip that strands a student.
                    Terminal.error(
                        "cuhk codes issue: the slips need " + missing.pieces.joined(separator: "; and ")
                            + "; no code was issued")
                    throw ExitCode(1)
                }
                let issued: [IssuedCode]
                do {
                    issued = try await EnrollmentCodes.issue(
                        to: sid.flatMap(StudentID.init).map { .student($0) } ?? .allUnenrolled,
                        validFor: validFor.seconds, in: registry)
                } catch let error as EnrollmentCodes.Failure {
                    Terminal.error("cuhk codes issue: \(error)")
                    throw ExitCode(1)
                }
                let known = try? instructions.get()
                let codeSlips = issued.map { issued in
                    CodeSlip(
                        sid: issued.entry.studentID.rawValue, name: issued.entry.name, email: issued.entry.email,
                        code: "\(issued.code)", expiresAt: JSONOutput.timestamp(issued.expiresAt),
                        ca: known?.certificateAuthority, blackboard: known?.blackboard,
                        rootFingerprint: known?.rootFingerprint,
                        command: known?.command(for: issued.entry.studentID))
                }
                if slips, let known {
                    let separator = String(repeating: "-", count: 72)
                    for code in issued {
                        Terminal.line(separator)
                        for line in EnrollmentSlip(code: code, instructions: known).lines { Terminal.line(line) }
                    }
                    if !issued.isEmpty { Terminal.line(separator) }
                    Terminal.error("\(Count.of(issued.count, "code")) issued")
                } else if json {
                    try JSONOutput.print(codeSlips)
                } else if csv {
                    Terminal.line("sid,name,email,code,expires_at")
                    for slip in codeSlips {
                        Terminal.line(
                            [
                                slip.sid, CodeSlip.csvField(slip.name), CodeSlip.csvField(slip.email ?? ""), slip.code,
                                slip.expiresAt,
                            ]
                            .joined(separator: ","))
                    }
                } else {
                    Terminal.line("SID         NAME                      CODE                      EXPIRES AT")
                    for slip in codeSlips {
                        Terminal.line(
                            [
                                slip.sid, String(slip.name.prefix(24)).padded(to: 24),
                                slip.code, slip.expiresAt,
                            ].joined(separator: "  "))
                    }
                    Terminal.line("\(Count.of(codeSlips.count, "code")) issued")
                    if let known, let first = issued.first {
                        Terminal.line(
                            "Each student runs the command on their slip (--slips prints them), for example "
                                + known.command(for: first.entry.studentID) + ", and types their code when asked.")
                    }
                }
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
    /// CUHK's and Blackboard's addresses, the root's fingerprint and the student's command, when known.
    var ca: String?
    var blackboard: String?
    var rootFingerprint: String?
    var command: String?

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

    static func rows(_ registry: any AuthorityStore) async throws -> [RosterStatus] {
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

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            try await RegistryFile.with(
                in: dir, database: database, by: "cuhk throttle list", writing: false
            ) { registry in
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
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the throttle of one address, or of all.")

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @OptionGroup var database: DatabaseOptions

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
            try await RegistryFile.with(
                in: dir, database: database, by: "cuhk throttle clear", writing: true
            ) { registry in
                let lifted = try await registry.clearThrottle(address.flatMap(SourceAddress.init))
                if !all, lifted == 0 {
                    Terminal.error("cuhk throttle clear: \(address ?? "") is not throttled")
                    throw ExitCode(1)
                }
                Terminal.line("\(Count.of(lifted, "address", plural: "addresses")) no longer throttled")
            }
        }
    }
}

/// One address in `cuhk throttle list --json`.
struct ThrottledJSON: Encodable {
    var address: String
    var since: String
    var until: String
}
