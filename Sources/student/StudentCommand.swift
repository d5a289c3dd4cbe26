import ArgumentParser
import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation
import Logging

@main
struct StudentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "student",
        abstract: "The Student: enrolls with CUHK (steps 1–2), then uploads a report to Blackboard (steps 3–6).",
        discussion: """
            Exit codes:
              0   done
              1   local error: files, input, an empty report
              3   CUHK refused
              4   Blackboard refused
              5   network failure: a server cannot be reached, closed the connection or stayed silent
              6   a server's answer failed the Student's checks (or the address is not that server)
              7   Blackboard failed a check of who it is; nothing of the report was sent
              8   a receipt does not verify
              64  usage error
            """,
        version: CampusPKIVersion.current,
        subcommands: [Upload.self, Enroll.self, Renew.self, VerifyReceipt.self],
        defaultSubcommand: Upload.self
    )

    static func main() async {
        AllocatorTuning.apply()
        SubcommandSuggestion.check(self, arguments: Array(CommandLine.arguments.dropFirst()))
        await main(nil)
    }
}

struct EnrollmentOptions: ParsableArguments {
    @Option(help: "The 10-digit student ID; asked for when missing.")
    var sid: String?

    @Option(help: "Directory for <SID>.key, <SID>.cer and the pinned root cuhk.cer.")
    var dir: String = "."

    @Option(help: "CUHK's address, HOST:PORT.")
    var ca: String = ServerAddress.defaultCertificateAuthority.description

    @Option(help: "Root certificate to trust (default: cuhk.cer in --dir; else CUHK's, pinned there on first use).")
    var rootCert: String?

    @Flag(help: "Make a new key and certificate even if valid ones are saved.")
    var renew = false

    @Flag(help: "Use a saved key even if others may read it.")
    var allowInsecureKeyPermissions = false

    @Option(
        help: ArgumentHelp(
            "Read your one-time enrollment code from the first line of FILE, or with - from standard input.",
            discussion: """
                With -, the code is the line after the student ID's (when the ID is read from standard input too) and \
                before the report's messages. Without --code-file, the Student asks for the code at a terminal, \
                without echoing it. A code never goes on the command line, where other users could read it.
                """),
        completion: .file())
    var codeFile: String?

    @Option(
        help: ArgumentHelp(
            "The SHA-256 fingerprint of CUHK's root (64 hex digits, colons optional), from your code slip.",
            discussion: "CUHK must show that root before the code is used; the root is then pinned as cuhk.cer."))
    var rootFingerprint: String?

    @Option(
        help: ArgumentHelp(
            "How many times a session with CUHK or Blackboard that broke is tried again (0: never).",
            discussion: """
                Tried again: a connection refused, lost or silent, and a server that answers server-busy or \
                shutting-down; the waits grow from about 1 s to at most 8 s. A retry with Blackboard sends the whole \
                report again; one with CUHK never spends an enrollment code twice.
                """))
    var retries: Int = RetryPolicy.defaultRetries

    /// Withdrawn: refused with the reason, rather than as an unknown option.
    @Option(help: .hidden)
    var code: String?

    func validate() throws {
        if code != nil {
            throw ValidationError(
                "--code is no longer accepted: other users can read a command line from the process list. Type the "
                    + "code when the Student asks for it, or use --code-file FILE (or --code-file - for standard "
                    + "input). If others use this machine, ask the course's staff for a new code.")
        }
        guard (0...RetryPolicy.maximumRetries).contains(retries) else {
            throw ValidationError("--retries must be from 0 to \(RetryPolicy.maximumRetries)")
        }
        if let sid { _ = try ArgumentChecks.studentID(sid) }
        _ = try ArgumentChecks.serverAddress(ca, option: "--ca")
        if let rootFingerprint, RootFingerprint(rootFingerprint) == nil {
            throw ValidationError("--root-fingerprint: \(RootFingerprint.requirement)")
        }
    }

    /// The SID from `--sid`, or asked for as the seed did until the input is 10 digits.
    func studentID() throws -> StudentID {
        if let sid, let studentID = StudentID(sid) { return studentID }
        while true {
            Terminal.prompt("Enter student ID (10 digit number): ")
            guard let line = readLine() else {
                throw StudentError.local("no student ID given (end of input)")
            }
            if let studentID = StudentID(line.trimmingCharacters(in: .whitespaces)) { return studentID }
            Terminal.line("Not a student ID: \(StudentID.requirement).")
        }
    }

    /// The code from `--code-file`, read at once (after the SID, before the messages), and checked before anything
    /// is sent.
    func enrollmentCode() throws -> EnrollmentCode? {
        try codeFile.map(CodeInput.read(file:))
    }

    func enrollment(code: EnrollmentCode? = nil, explain: Bool = false) -> EnrollmentClient {
        let address = ServerAddress(ca) ?? .defaultCertificateAuthority
        return EnrollmentClient(
            configuration: .init(
                directory: dir,
                certificateAuthority: address,
                renew: renew,
                rootCertificatePath: rootCert,
                rootFingerprint: rootFingerprint.flatMap(RootFingerprint.init),
                allowInsecureKeyPermissions: allowInsecureKeyPermissions,
                code: code
            ),
            reporter: Terminal.reporter(),
            explain: explain,
            // Only a person at a terminal is asked; piped input keeps the seed's lines (SID, then messages).
            askForCode: { CodeInput.prompt() },
            checkpoint: crashPointFromEnvironment(),
            retry: retryPolicy,
            announceRetry: { Terminal.error("student: \($0.line(server: .cuhk(address)))") }
        )
    }

    /// `--retries`.
    var retryPolicy: RetryPolicy { RetryPolicy(retries: retries) }

    /// Checks the directory, reads the SID and the code, then enrolls and prints the seed's line.
    func enroll(explain: Bool = false) async throws -> StudentCredentials {
        try EnrollmentClient.prepareDirectory(dir)
        let studentID = try studentID()
        let (credentials, _) = try await enrollment(code: try enrollmentCode(), explain: explain).enroll(studentID)
        Terminal.line("SID: \(studentID) sign finished.")
        return credentials
    }
}

/// Fault injection for the crash tests: with `CAMPUSPKI_CRASH_AT=<step>` in the environment, the process kills itself
/// with SIGKILL right after that step of a key change, as a power cut would stop it.
func crashPointFromEnvironment() -> @Sendable (CredentialFiles.Step) -> Void {
    guard let name = ProcessInfo.processInfo.environment["CAMPUSPKI_CRASH_AT"],
        let target = CredentialFiles.Step(rawValue: name)
    else { return { _ in } }
    return { step in if step == target { kill(getpid(), SIGKILL) } }
}

/// Runs `body`, turning a ``StudentError`` into its message and exit code.
func runReportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as StudentError {
        Terminal.error("student: \(error)")
        throw ExitCode(error.exitCode)
    }
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Steps 1–2 only: make a key and CSR, get cert 2 from CUHK, save both."
    )

    @OptionGroup var options: EnrollmentOptions

    @Flag(help: "Show each step's public values (key shares, fingerprints, the transcript hash).")
    var explain = false

    func run() async throws {
        StudentLogging.bootstrap()
        try await runReportingFailures { _ = try await options.enroll(explain: explain) }
    }
}

struct Renew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Renew a certificate: a new key and cert 2, authorized by the current one (no code needed).",
        discussion: """
            CUHK revokes the old certificate (superseded). A certificate that expired less than \
            \(EnrollmentChannel.renewalGraceDays) days ago can still renew; a revoked one cannot. A renewal cut short \
            (killed, or the connection lost) is finished by the next run.
            """
    )

    @OptionGroup var options: EnrollmentOptions

    @Flag(help: "Show each step's public values (key shares, fingerprints, the transcript hash).")
    var explain = false

    func run() async throws {
        StudentLogging.bootstrap()
        try await runReportingFailures {
            try EnrollmentClient.prepareDirectory(options.dir)
            let studentID = try options.studentID()
            let credentials = try await options.enrollment(explain: explain).renew(studentID)
            Terminal.line(
                "SID: \(studentID) renewed: serial \(credentials.certificate.serialNumber.hex), valid until "
                    + JSONOutput.timestamp(credentials.certificate.notValidAfter))
        }
    }
}
