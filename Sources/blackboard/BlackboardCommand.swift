import ArgumentParser
import CampusAdmin
import CampusBlackboard
import CampusCommandLine
import CampusPKI
import CampusStorage
import Crypto
import Foundation
import Logging
import NIOCore

@main
struct BlackboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blackboard",
        abstract:
            "Blackboard: verifies students' cert 2 (step 3), runs the session (steps 4–5), stores reports (step 6).",
        version: CampusPKIVersion.current,
        subcommands: [
            Serve.self, AssignmentCommand.self, Reports.self, Show.self, Export.self, ManifestCommand.self,
            RosterCommand.self, AdminTokenCommand.self,
        ],
        defaultSubcommand: Serve.self
    )

    static func main() async {
        AllocatorTuning.apply()
        SubcommandSuggestion.check(self, arguments: Array(CommandLine.arguments.dropFirst()))
        DefaultSubcommandHelp.check(self, arguments: Array(CommandLine.arguments.dropFirst()))
        await main(nil)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Accept sessions and store reports.")

    @Option(help: "Directory of blackboard.db and, by default, cuhk.cer.")
    var dir: String = "."

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The trusted root certificate (default: cuhk.cer in --dir).")
    var rootCert: String?

    @Option(help: "Blackboard's own certificate (default: blackboard.cer in --dir).")
    var certificate: String?

    @Option(help: "Blackboard's private key (default: blackboard.key in --dir).")
    var key: String?

    @Flag(help: "Use a key file others may read.")
    var allowInsecureKeyPermissions = false

    @Flag(help: "Show each step's public values (sizes, fingerprints, transcript hash, nonces, ciphertexts).")
    var explain = false

    @Option(
        help: ArgumentHelp(
            "Port of the web interface (dashboard, /metrics, /healthz, /readyz); 0 picks a free port.",
            discussion: "Default: \(BlackboardServer.defaultAdminPort), or 0 when --port is 0."))
    var adminPort: Int?

    @Option(help: "Address of the web interface (loopback unless you choose otherwise).")
    var adminHost: String = "127.0.0.1"

    @Flag(help: "Run no web interface.")
    var noAdmin = false

    @OptionGroup(title: "HTTP port (web interface)") var http: HTTPLimitOptions

    @OptionGroup var proxyProtocol: ProxyProtocolOption

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port.")
    var port: Int = 3141

    @Option(help: "Largest message content accepted, in bytes.")
    var maxMessageSize: Int = 1024 * 1024

    @Option(help: "Seconds a student may stay silent during the handshake.")
    var handshakeTimeout: Int = 10

    @Option(
        help: ArgumentHelp(
            "Seconds one request to CUHK's OCSP responder may take, connecting included (1 to "
                + "\(BlackboardServer.maximumOCSPTimeoutSeconds)).",
            discussion: "Blackboard waits for it before it answers the student's request, so --handshake-timeout "
                + "must be more."))
    var ocspTimeout: Int = Int(BlackboardServer.ocspTimeoutSeconds)

    @Option(help: "Seconds an established session may stay silent.")
    var idleTimeout: Int = BlackboardServer.defaultIdleTimeoutSeconds

    @Option(
        help: ArgumentHelp(
            "Most connections served at once.",
            discussion: "Default: what the file descriptor limit allows, at most "
                + "\(ConnectionLimit.defaultMaximumConnections)."
        ))
    var maxConnections: Int?

    @Option(
        help: ArgumentHelp(
            "Most connections one address (an IPv6 /64) may have in the handshake at once; 0: no limit.",
            discussion: "A further one is refused (server-busy) until one of them completes its handshake (step 5) "
                + "or ends; established sessions do not count. Behind a load balancer, the address is the one its "
                + "PROXY header names (--proxy-protocol-from); without it every student has the balancer's."))
    var maxHandshakesPerAddress: Int = BlackboardServer.defaultHandshakesPerAddress

    @Option(help: "Seconds that sessions in flight may go on after SIGINT or SIGTERM; a second signal ends them.")
    var shutdownGrace: Int = ConnectionLimit.defaultShutdownGraceSeconds

    @Option(help: "Most reports one student may have in one assignment (on time and late together).")
    var maxReportsPerAssignment: Int = StorageLimits.defaultReportsPerAssignment

    @Option(help: "Most bytes of content one report may have.")
    var maxReportSize: Int64 = StorageLimits.defaultReportBytes

    @Option(help: "Most bytes of content one student may store, in all reports and unfinished uploads.")
    var maxStudentStorage: Int64 = StorageLimits.defaultStudentBytes

    @Option(
        help: ArgumentHelp(
            "Most sessions one student may have open at once.",
            discussion: "A further one is refused (too-many-sessions) once the student has proven its key."))
    var maxSessionsPerStudent: Int = OpenSessions.defaultMaximumPerStudent

    @Option(help: "Smallest RSA key accepted in cert 2, in bits.")
    var minKeySize: Int = 2048

    @Option(
        help: ArgumentHelp(
            "Checking cert 2 with CUHK's OCSP responder: hard, soft or off.",
            discussion:
                "hard refuses a certificate whose status cannot be learned (revocation-unknown); soft accepts it "
                + "and logs it; a revoked certificate is refused in both. Certificates without an OCSP URL are "
                + "not checked."
        ))
    var revocation: RevocationPolicy.Mode = .hard

    @Option(
        help: ArgumentHelp(
            "Seconds between two fetches of CUHK's revocation list.",
            discussion: "The list beside the OCSP responder each certificate names (GET /crl on CUHK's OCSP port); "
                + "a revoked certificate's new sessions are refused, and its open ones ended, within this time. "
                + "Not fetched with --revocation off."))
    var crlInterval: Int = RevocationListDefaults.pollIntervalSeconds

    @Option(
        help: ArgumentHelp(
            "CUHK's timestamp of each report: hard, soft or off.",
            discussion: "Each complete report is timestamped by CUHK's timestamp authority before its receipt is "
                + "signed; CUHK's time decides whether it is on time. When no timestamp can be had, hard refuses the "
                + "report (timestamp-unavailable), soft signs the receipt without one and says so (timestamp: none); "
                + "off asks nothing, and makes no deadline manifests."))
    var timestamps: ReportTimestamper.Mode = .soft

    @Option(
        help: ArgumentHelp(
            "CUHK's timestamp service, http://HOST:PORT/tsa.",
            discussion: "Default: tsa beside the OCSP responder that Blackboard's certificate names."))
    var tsaUrl: String?

    @Option(help: "Operational log level (standard error).")
    var logLevel: Logger.Level = .info

    /// The web interface's port: as given, else the default, else a free one when Blackboard's own port is.
    var effectiveAdminPort: Int? {
        noAdmin ? nil : adminPort ?? (port == 0 ? 0 : BlackboardServer.defaultAdminPort)
    }

    func validate() throws {
        try ArgumentChecks.listeningPort(port)
        if let adminPort { try ArgumentChecks.listeningPort(adminPort, option: "--admin-port") }
        if let adminPort = effectiveAdminPort, adminPort != 0, adminPort == port, adminHost == host {
            throw ValidationError("--admin-port must differ from --port")
        }
        guard maxMessageSize > 0, handshakeTimeout > 0, idleTimeout > 0, maxConnections ?? 1 > 0,
            maxReportsPerAssignment > 0, maxReportSize > 0, maxStudentStorage > 0, maxSessionsPerStudent > 0,
            crlInterval > 0
        else {
            throw ValidationError("sizes, timeouts and limits must be positive")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be 0 or more") }
        guard maxHandshakesPerAddress >= 0 else {
            throw ValidationError("--max-handshakes-per-address must be 0 (no limit) or more")
        }
        guard (1...Int(BlackboardServer.maximumOCSPTimeoutSeconds)).contains(ocspTimeout) else {
            throw ValidationError(
                "--ocsp-timeout must be from 1 to \(BlackboardServer.maximumOCSPTimeoutSeconds) s, so that a student "
                    + "never waits for it alone until its own timeout")
        }
        guard handshakeTimeout > ocspTimeout else {
            throw ValidationError(
                "--handshake-timeout must be more than --ocsp-timeout (\(ocspTimeout) s), the longest wait for "
                    + "CUHK's OCSP responder, which counts as silence")
        }
        guard idleTimeout > KeepAlive.intervalSeconds else {
            throw ValidationError(
                "--idle-timeout must be more than \(KeepAlive.intervalSeconds) s, the Student's keep-alive interval")
        }
        guard minKeySize >= 2048 else { throw ValidationError("--min-key-size must be at least 2048") }
        if let tsaUrl, TimestampAuthorityClient.serviceURL(forResponder: tsaUrl) == nil {
            throw ValidationError("--tsa-url \"\(ControlCharacters.escaped(tsaUrl))\" is not an http or https URL")
        }
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: logLevel)
        let logger = Logger(label: "blackboard")
        var configuration = BlackboardServer.Configuration(
            directory: dir,
            rootCertificatePath: rootCert,
            certificatePath: certificate,
            keyPath: key,
            allowsInsecureKeyPermissions: allowInsecureKeyPermissions,
            explain: explain,
            adminPort: effectiveAdminPort,
            adminHost: adminHost,
            host: host,
            port: port,
            maximumMessageSize: maxMessageSize,
            handshakeTimeout: .seconds(Int64(handshakeTimeout)),
            idleTimeout: .seconds(Int64(idleTimeout)),
            maximumConnections: ServerLauncher.connectionLimit(
                requested: maxConnections, cap: ConnectionLimit.defaultMaximumConnections, logger: logger),
            minimumKeyBits: minKeySize,
            shutdownGrace: .seconds(Int64(shutdownGrace)),
            revocation: revocation,
            httpLimits: http.limits,
            limits: StorageLimits(
                reportsPerAssignment: maxReportsPerAssignment, reportBytes: maxReportSize,
                studentBytes: maxStudentStorage),
            maximumSessionsPerStudent: maxSessionsPerStudent,
            revocationListInterval: .seconds(crlInterval),
            timestamps: timestamps,
            timestampAuthorityURL: tsaUrl
        )
        configuration.proxyProtocolPeers = try proxyProtocol.peers
        configuration.maximumHandshakesPerAddress = maxHandshakesPerAddress
        configuration.ocspTimeout = .seconds(Int64(ocspTimeout))
        // The ports first, as cuhk does: a port that is taken leaves no new blackboard.db behind.
        let listener = try await ServerLauncher.bind(program: "blackboard", host: host, port: port) {
            try await BlackboardServer.listen(configuration: configuration, logger: logger)
        }
        if let adminPort = effectiveAdminPort, adminPort != 0 {
            try await ServerLauncher.bind(
                program: "blackboard", host: adminHost, port: adminPort, option: "--admin-port",
                hostOption: "--admin-host"
            ) {
                try await HTTPServing.checkPortIsFree(host: adminHost, port: adminPort)
            }
        }
        // Then the database, before anything is served: a Blackboard that cannot store reports must not look healthy.
        let location = try StorageCommand.location(directory: dir, database, program: "blackboard")
        // On PostgreSQL too: the web interface keeps its login token in --dir.
        if !location.isShared || effectiveAdminPort != nil {
            try StorageCommand.createDirectory(dir, program: "blackboard")
        }
        try await ServerLauncher.withStorage(program: "blackboard", logger: logger) {
            try await StoreOpener.withBlackboardStore(at: location, logger: logger) { store in
                let server = try await ServerLauncher.start(program: "blackboard", logger: logger) {
                    try BlackboardServer(
                        configuration: configuration, store: store, listener: listener, logger: logger,
                        reporter: Terminal.reporter())
                }
                try await ServiceRunner.run(server, logger: logger) { _ in
                    guard let admin = server.admin, let address = try? await server.adminAddress() else { return }
                    Terminal.line("dashboard at \(AdminServer.url(address))")
                    Terminal.line("login at \(admin.loginURL(address))")
                }
            }
        }
    }
}

struct AdminTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-token",
        abstract: "Print the web interface's login token (making it if missing), or replace it with --rotate.",
        discussion: """
            The token is in blackboard-admin-token (0600) in --dir; whoever knows it can log in to the web interface. \
            `blackboard serve` prints a login URL with it.
            """
    )

    @OptionGroup var store: StoreOptions

    @Flag(help: "Replace the token with a new one, and end every session logged in with the old one.")
    var rotate = false

    func run() async throws {
        let location = try StorageCommand.location(
            directory: store.dir, store.database, program: "blackboard admin-token")
        let hasStore = StorageCommand.exists(StoreOpener.blackboardFileName, at: location)
        try await AdminTokenTool.run(
            program: "blackboard", server: "Blackboard", directory: store.dir, rotate: rotate,
            endSessions: rotate && hasStore
                ? {
                    try await store.with("blackboard admin-token", creating: true) {
                        try await $0.removeAllAdminSessions()
                    }
                }
                : nil)
    }
}

struct RosterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster",
        abstract: "The course's students, so the dashboard shows who has not submitted.",
        subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a roster CSV (header sid,name), the same file cuhk roster import reads.")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The CSV file.")
        var file: String

        func run() async throws {
            do {
                guard let bytes = try SecureFile.readBytes(at: file, limit: 16 << 20) else {
                    Terminal.error("blackboard roster import: \(file) does not exist")
                    throw ExitCode(1)
                }
                let entries = try RosterCSV.parse(bytes: bytes)
                let total = try await store.with("blackboard roster import", creating: true) {
                    try await $0.importRoster(entries)
                }
                Terminal.line(
                    "Imported \(Count.of(entries.count, "student")); the roster has \(Count.of(total, "student"))")
            } catch let error as RosterCSV.ImportError {
                Terminal.error("blackboard roster import: \(error)")
                throw ExitCode(1)
            } catch let error as FileError {
                Terminal.error("blackboard roster import: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

struct StoreOptions: ParsableArguments {
    @Option(help: "Directory of blackboard.db.")
    var dir: String = "."

    @OptionGroup var database: DatabaseOptions

    /// Runs `body` with Blackboard's store: `blackboard.db` in `--dir`, or the database `--database` names. When
    /// `creating`, a missing `blackboard.db` is made (as `blackboard serve` would).
    func with<T>(
        _ program: String = "blackboard", creating: Bool = false, _ body: (any BlackboardStore) async throws -> T
    ) async throws -> T {
        let location = try StorageCommand.location(directory: dir, database, program: program)
        guard creating || StorageCommand.exists(StoreOpener.blackboardFileName, at: location) else {
            Terminal.error(
                "blackboard: \(SecureFile.join(dir, StoreOpener.blackboardFileName)) does not exist; blackboard serve, "
                    + "blackboard assignment add or blackboard roster import creates it (or give --dir, the directory "
                    + "where Blackboard runs, or --database)")
            throw ExitCode(2)
        }
        if creating, !location.isShared { try StorageCommand.createDirectory(dir, program: program) }
        let logger = Logger(label: "blackboard")
        return try await ServerLauncher.withStorage(program: program, logger: logger) {
            try await StoreOpener.withBlackboardStore(
                at: location, options: .init(checkWrites: creating), logger: logger, body)
        }
    }
}

struct Reports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List complete reports, then incomplete attempts (stored messages without a report).")

    @OptionGroup var store: StoreOptions

    @Option(help: "Only this student's reports.")
    var sid: String?

    @Flag(help: "Only each student's latest report.")
    var latest = false

    @Option(
        help: ArgumentHelp(
            "Per student, the submission to this assignment that counts, and how many there were.",
            discussion: "The latest on-time submission counts; a late resubmission is kept and listed with --sid "
                + "but does not replace it. Without an on-time submission, the latest late one counts."))
    var assignment: String?

    @Flag(
        help: ArgumentHelp(
            "List incomplete attempts instead: sessions whose messages are stored but which completed no report.",
            discussion: "They have no report number and no receipt and do not count as reports; the table "
                + "lists them below the reports unless --json or --latest is given."))
    var incomplete = false

    @Flag(help: "Print JSON (a stable format, see README) instead of a table.")
    var json = false

    func validate() throws {
        if let sid { _ = try ArgumentChecks.studentID(sid) }
        if incomplete, latest { throw ValidationError("--incomplete and --latest cannot be used together") }
    }

    func run() async throws {
        try await store.with("blackboard reports") { try await list($0) }
    }

    private func list(_ store: any BlackboardStore) async throws {
        let studentID = sid.flatMap(StudentID.init)
        if let assignment {
            guard try await store.assignments().contains(where: { $0.name == assignment }) else {
                Terminal.error("blackboard reports: no assignment \(assignment) (see blackboard assignment list)")
                throw ExitCode(1)
            }
        }
        let attempts = try await store.incompleteAttempts(for: studentID).filter {
            assignment == nil || $0.assignment == assignment
        }
        if incomplete {
            try printIncomplete(attempts, alone: true)
            return
        }
        var reports = try await store.reports(for: studentID)
        if let assignment {
            try printSubmissions(reports.filter { $0.assignment == assignment }, to: assignment)
            if !json { try printIncomplete(attempts, alone: false) }
            return
        }
        if latest {
            var latest: [StudentID: ReportSummary] = [:]
            for report in reports where report.id > latest[report.studentID]?.id ?? 0 {
                latest[report.studentID] = report
            }
            reports = latest.values.sorted { $0.id < $1.id }
        }
        if json {
            try JSONOutput.print(reports.map(ReportJSON.init))
            return
        }
        // 6 + 10 + 8 + 12 + 20 + 16 characters and five gaps of 2: 82 columns; `show` has the full digest.
        Terminal.line("REPORT  SID         MESSAGES  BYTES         COMPLETED AT          SHA-256 (first 16)")
        for report in reports {
            Terminal.line(
                [
                    String(report.id).padded(to: 6), report.studentID.rawValue,
                    String(report.messageCount).padded(to: 8),
                    String(report.totalBytes).padded(to: 12), JSONOutput.timestamp(report.completedAt),
                    String(report.digest.hexString.prefix(16)),
                ].joined(separator: "  ")
            )
        }
        Terminal.line(Count.of(reports.count, "report"))
        if !latest { try printIncomplete(attempts, alone: false) }
    }

    /// Incomplete attempts: alone (`--incomplete`, where `--json` applies), or below the reports when there are any.
    private func printIncomplete(_ attempts: [IncompleteAttempt], alone: Bool) throws {
        if alone, json {
            try JSONOutput.print(attempts.map(IncompleteAttemptJSON.init))
            return
        }
        guard alone || !attempts.isEmpty else { return }
        if !alone { Terminal.line("") }
        Terminal.line("Incomplete attempts (no receipt; not reports, not counted):")
        Terminal.line("SESSION  SID         ASSIGNMENT  MESSAGES  BYTES         STARTED AT            STATUS")
        for attempt in attempts {
            Terminal.line(
                [
                    String(attempt.session).padded(to: 7), attempt.studentID.rawValue,
                    attempt.assignment.padded(to: 10), String(attempt.messageCount).padded(to: 8),
                    String(attempt.storedBytes).padded(to: 12), JSONOutput.timestamp(attempt.startedAt),
                    attempt.statusText,
                ].joined(separator: "  "))
        }
        Terminal.line(Count.of(attempts.count, "incomplete attempt"))
    }

    /// One line per student: the submission that counts (``CountedSubmission``).
    private func printSubmissions(_ reports: [ReportSummary], to assignment: String) throws {
        let rows = CountedSubmission.byStudent(reports).values.sorted {
            $0.report.studentID.rawValue < $1.report.studentID.rawValue
        }
        if json {
            try JSONOutput.print(
                rows.map {
                    SubmissionJSON(report: ReportJSON($0.report), submissions: $0.count, lateAfter: $0.lateAfter)
                })
            return
        }
        Terminal.line("Assignment \(assignment)")
        Terminal.line("SID         COUNTS  SUBMITTED AT          STATUS   SUBMISSIONS  LATE AFTER  BYTES")
        for row in rows {
            Terminal.line(
                [
                    row.report.studentID.rawValue, String(row.report.id).padded(to: 6),
                    JSONOutput.timestamp(row.report.completedAt),
                    (row.report.isLate ? "late" : "on time").padded(to: 7),
                    String(row.count).padded(to: 11), String(row.lateAfter).padded(to: 10),
                    String(row.report.totalBytes),
                ].joined(separator: "  "))
        }
        Terminal.line(Count.of(rows.count, "student") + ", " + Count.of(reports.count, "submission"))
    }
}

/// A student's counted submission in `blackboard reports --assignment NAME --json`.
struct SubmissionJSON: Encodable {
    /// The submission that counts.
    var report: ReportJSON
    var submissions: Int
    /// Late submissions after the counted one, kept but not counted.
    var lateAfter: Int
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one report with its messages.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The report number, as `blackboard reports` lists it.")
    var report: Int64

    @Flag(help: "Print JSON (a stable format, see README): message contents in base64.")
    var json = false

    func run() async throws {
        guard let (summary, messages) = try await store.with("blackboard show", { try await $0.report(report) }) else {
            Terminal.error("blackboard: no report \(report) (see blackboard reports)")
            throw ExitCode(1)
        }
        if json {
            try JSONOutput.print(ReportJSON(summary, messages: messages))
            return
        }
        Terminal.line("Report \(summary.id)")
        Terminal.line("  SID:                \(summary.studentID)")
        Terminal.line("  certificate serial: \(summary.certificateSerial)")
        Terminal.line("  session ID:         \(summary.sessionID.hexString)")
        Terminal.line("  assignment:         \(summary.assignment)")
        if let file = summary.file {
            Terminal.line(
                "  file:               \(file.name.isEmpty ? "(no name)" : ControlCharacters.escaped(file.name))")
            Terminal.line("  content type:       \(file.contentType.isEmpty ? "(none)" : file.contentType)")
        }
        Terminal.line("  deadline:           \(summary.deadline.map(JSONOutput.timestamp) ?? "none")")
        Terminal.line(
            "  completed at:       \(JSONOutput.timestamp(summary.completedAt)) (\(summary.isLate ? "late" : "on time"))"
        )
        Terminal.line(
            "  CUHK timestamp:     "
                + (summary.timestampedAt.map { ReceiptDocument.preciseTimestamp($0) }
                    ?? "none (the time is Blackboard's clock)"))
        Terminal.line("  messages:           \(summary.messageCount)")
        Terminal.line("  bytes:              \(summary.totalBytes)")
        Terminal.line("  SHA-256:            \(summary.digest.hexString)")
        for message in messages {
            Terminal.line(
                "  #\(message.sequence) \(JSONOutput.timestamp(message.receivedAt)) tag \(message.mac.hexString)")
            Terminal.line("     \(MessageDisplay.text(message.content))")
        }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a report's exact bytes (its messages' contents, in order) to a file.",
        discussion: """
            The file's SHA-256 equals the digest on the student's receipt; `sha256sum` shows it. A report uploaded \
            with `student --file` keeps its file's name: with --out naming an existing directory, the report goes \
            there as report-<number>-<name>. With --all, every report goes to <assignment>/<SID>/report-<number>-<name> \
            under the --out directory (report-<number> when it came from no file). Existing files are never replaced.
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The report number, as `blackboard reports` lists it.")
    var report: Int64?

    @Flag(help: "Export every report.")
    var all = false

    @Option(help: "The file to write, or an existing directory to write it into (a directory, with --all).")
    var out: String

    func validate() throws {
        guard (report == nil) != (!all) else {
            throw ValidationError("give either a report number or --all")
        }
    }

    func run() async throws {
        try await store.with("blackboard export") { store in
            if let report {
                guard let (summary, messages) = try await store.report(report) else {
                    Terminal.error("blackboard export: no report \(report) (see blackboard reports)")
                    throw ExitCode(1)
                }
                var isDirectory: ObjCBool = false
                let target =
                    FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) && isDirectory.boolValue
                    ? SecureFile.join(out, ExportNames.fileName(of: summary)) : out
                try write(summary, messages, to: target)
                return
            }
            do {
                try SecureFile.createDirectory(out)
            } catch {
                Terminal.error("blackboard export: cannot create \(out): \(error)")
                throw ExitCode(1)
            }
            let summaries = try await store.reports(for: nil)
            for summary in summaries {
                guard let (summary, messages) = try await store.report(summary.id) else { continue }
                let path = ExportNames.path(of: summary, under: out)
                do {
                    try SecureFile.createDirectory(SecureFile.parentDirectory(of: path))
                } catch {
                    Terminal.error("blackboard export: cannot create the directory of \(path): \(error)")
                    throw ExitCode(1)
                }
                try write(summary, messages, to: path)
            }
            Terminal.line("\(Count.of(summaries.count, "report")) exported to \(out)")
        }
    }

    private func write(_ summary: ReportSummary, _ messages: [StoredMessage], to path: String) throws {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(summary.totalBytes))
        for message in messages { bytes += message.content }
        guard Array(SHA256.hash(data: bytes)) == summary.digest else {
            Terminal.error("blackboard export: report \(summary.id)'s messages do not match its digest; not written")
            throw ExitCode(2)
        }
        do {
            try SecureFile.write(bytes, to: path, mode: SecureFile.privateMode, replacing: false)
        } catch {
            Terminal.error("blackboard export: \(error)")
            throw ExitCode(1)
        }
        let origin =
            summary.file.map { file in
                [
                    file.name.isEmpty ? nil : ControlCharacters.escaped(file.name),
                    file.contentType.isEmpty ? nil : file.contentType,
                ]
                .compactMap { $0 }.map { ", \($0)" }.joined()
            } ?? ""
        Terminal.line(
            "Report \(summary.id) (SID \(summary.studentID)\(origin), \(Count.of(bytes.count, "byte"))) written to "
                + "\(path), SHA-256 \(summary.digest.hexString)")
    }
}

/// An incomplete attempt in `blackboard reports --incomplete --json`.
struct IncompleteAttemptJSON: Encodable {
    var session: Int64
    var sid: String
    var certificateSerial: String
    var assignment: String
    var startedAt: String
    var messageCount: Int
    var storedBytes: Int64
    /// `open` (no end was recorded) or `failed`.
    var status: String
    /// Why Blackboard ended it, when it did.
    var failure: String?

    init(_ attempt: IncompleteAttempt) {
        session = attempt.session
        sid = attempt.studentID.rawValue
        certificateSerial = attempt.certificateSerial
        assignment = attempt.assignment
        startedAt = JSONOutput.timestamp(attempt.startedAt)
        messageCount = attempt.messageCount
        storedBytes = attempt.storedBytes
        switch attempt.status {
        case .open: status = "open"
        case .failed(let reason):
            status = "failed"
            failure = reason
        }
    }
}

/// A report in `blackboard reports --json` and `blackboard show --json`.
struct ReportJSON: Encodable {
    struct Message: Encodable {
        var sequence: UInt64
        var receivedAt: String
        var contentBase64: String
    }

    var report: Int64
    var sid: String
    var certificateSerial: String
    var sessionId: String
    var messageCount: UInt64
    var totalBytes: UInt64
    var sha256: String
    var completedAt: String
    var assignment: String
    var deadline: String?
    var late: Bool
    /// CUHK's `genTime` for the report, to the millisecond; absent when it has no CUHK timestamp.
    var timestampedAt: String?
    /// The name of the file the report came from, as the student sent it; absent when it came from none.
    var fileName: String?
    var contentType: String?
    var messages: [Message]?

    init(_ summary: ReportSummary) {
        self.init(summary, messages: nil)
    }

    init(_ summary: ReportSummary, messages: [StoredMessage]?) {
        report = summary.id
        sid = summary.studentID.rawValue
        certificateSerial = summary.certificateSerial
        sessionId = summary.sessionID.hexString
        messageCount = summary.messageCount
        totalBytes = summary.totalBytes
        sha256 = summary.digest.hexString
        completedAt = JSONOutput.timestamp(summary.completedAt)
        assignment = summary.assignment
        deadline = summary.deadline.map(JSONOutput.timestamp)
        late = summary.isLate
        timestampedAt = summary.timestampedAt.map { ReceiptDocument.preciseTimestamp($0) }
        fileName = summary.file.flatMap { $0.name.isEmpty ? nil : $0.name }
        contentType = summary.file.flatMap { $0.contentType.isEmpty ? nil : $0.contentType }
        self.messages = messages?.map {
            Message(
                sequence: $0.sequence, receivedAt: JSONOutput.timestamp($0.receivedAt),
                contentBase64: Data($0.content).base64EncodedString())
        }
    }
}

extension RevocationPolicy.Mode: ExpressibleByArgument {}
extension ReportTimestamper.Mode: ExpressibleByArgument {}
