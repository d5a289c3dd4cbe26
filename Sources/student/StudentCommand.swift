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

    @Option(help: "Your one-time enrollment code from the course's staff (asked for at a terminal when missing).")
    var code: String?

    func validate() throws {
        if let sid { _ = try ArgumentChecks.studentID(sid) }
        _ = try ArgumentChecks.serverAddress(ca, option: "--ca")
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

    func enrollment() -> EnrollmentClient {
        EnrollmentClient(
            configuration: .init(
                directory: dir,
                certificateAuthority: ServerAddress(ca) ?? .defaultCertificateAuthority,
                renew: renew,
                rootCertificatePath: rootCert,
                allowInsecureKeyPermissions: allowInsecureKeyPermissions,
                code: code
            ),
            reporter: Terminal.reporter(),
            askForCode: {
                // Only a person at a terminal is asked; piped input keeps the seed's lines (SID, then messages).
                guard isatty(STDIN_FILENO) == 1 else { return nil }
                Terminal.prompt("Enter your enrollment code (press Enter if you have none): ")
                return readLine()?.trimmingCharacters(in: .whitespaces)
            }
        )
    }

    /// Checks the directory, then enrolls and prints the seed's line.
    func enroll() async throws -> StudentCredentials {
        try EnrollmentClient.prepareDirectory(dir)
        let studentID = try studentID()
        let (credentials, _) = try await enrollment().enroll(studentID)
        Terminal.line("SID: \(studentID) sign finished.")
        return credentials
    }
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

    func run() async throws {
        StudentLogging.bootstrap()
        try await runReportingFailures { _ = try await options.enroll() }
    }
}

struct Renew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Renew a valid certificate: a new key and cert 2, authorized by the current one (no code needed).",
        discussion: "CUHK revokes the old certificate (superseded). An expired or revoked one cannot renew."
    )

    @OptionGroup var options: EnrollmentOptions

    func run() async throws {
        StudentLogging.bootstrap()
        try await runReportingFailures {
            try EnrollmentClient.prepareDirectory(options.dir)
            let studentID = try options.studentID()
            let credentials = try await options.enrollment().renew(studentID)
            Terminal.line(
                "SID: \(studentID) renewed: serial \(credentials.certificate.serialNumber.hex), valid until "
                    + JSONOutput.timestamp(credentials.certificate.notValidAfter))
        }
    }
}
