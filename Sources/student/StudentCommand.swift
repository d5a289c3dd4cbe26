import ArgumentParser
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
            Exit codes: 0 done; 1 local error (files, input); 3 CUHK refused; 4 Blackboard refused;
            5 network failure; 6 a server's answer failed the Student's checks; 64 usage error.
            """,
        subcommands: [Upload.self, Enroll.self],
        defaultSubcommand: Upload.self
    )
}

struct EnrollmentOptions: ParsableArguments {
    @Option(help: "The 10-digit student ID; asked for when missing.")
    var sid: String?

    @Option(help: "Directory for <SID>.key and <SID>.cer.")
    var dir: String = "."

    @Option(help: "CUHK's address, HOST:PORT.")
    var ca: String = ServerAddress.defaultCertificateAuthority.description

    @Option(help: "Root certificate to trust (default: cuhk.cer in --dir if present, else the one CUHK sends).")
    var rootCert: String?

    @Flag(help: "Make a new key and certificate even if valid ones are saved.")
    var renew = false

    func validate() throws {
        if let sid, StudentID(sid) == nil { throw ValidationError("--sid must be exactly 10 decimal digits") }
        if ServerAddress(ca) == nil { throw ValidationError("--ca must be HOST:PORT") }
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
            Terminal.line("A student ID is exactly 10 digits.")
        }
    }

    func enrollment() -> EnrollmentClient {
        EnrollmentClient(
            configuration: .init(
                directory: dir,
                certificateAuthority: ServerAddress(ca) ?? .defaultCertificateAuthority,
                renew: renew,
                rootCertificatePath: rootCert
            ),
            reporter: Terminal.reporter()
        )
    }

    /// Enrolls and prints the seed's line.
    func enroll() async throws -> StudentCredentials {
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
