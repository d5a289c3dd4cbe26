import ArgumentParser
import CampusAuthority
import CampusBlackboard
import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation
import Logging
import ServiceLifecycle

/// The whole seed scenario in one command: CUHK and Blackboard on free ports, the Student for one SID sending
/// the seed's ten messages, every line labelled by role and seed step.
@main
struct CampusDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campus-demo",
        abstract: "Run the seed's scenario end to end: CUHK, Blackboard and a Student, on this machine.",
        version: CampusPKIVersion.current
    )

    @Option(help: "Working directory (default: a fresh temporary directory).")
    var dir: String?

    @Option(help: "The student ID.")
    var sid: String = "1155123456"

    @Option(help: "Log level for the servers' operational log (standard error).")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        _ = try ArgumentChecks.studentID(sid)
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: logLevel)
        let studentID = StudentID(sid)!
        let directory = try dir ?? Self.makeTemporaryDirectory()
        let cuhkDirectory = SecureFile.join(directory, "cuhk")
        let blackboardDirectory = SecureFile.join(directory, "blackboard")
        let studentDirectory = SecureFile.join(directory, "student")
        Terminal.line("CampusPKI demo in \(directory)")

        // The roster way, as a course runs it: the staff import the roster and hand out a one-time code.
        try SecureFile.createDirectory(cuhkDirectory)
        let registry = try SQLiteCertificateRegistry(
            path: SecureFile.join(cuhkDirectory, SQLiteCertificateRegistry.fileName))
        _ = try await registry.importRoster([RosterEntry(studentID: studentID, name: "Demo Student")])
        let code = EnrollmentCode.random()
        _ = try await registry.storeCode(
            code, for: studentID, issuedAt: Date(), expiresAt: Date().addingTimeInterval(7 * 86_400))
        let cuhkReporter = Terminal.reporter(role: "CUHK")
        cuhkReporter(.request, "Roster imported: \(studentID) (Demo Student); one-time enrollment code \(code) issued")
        let cuhk = try CUHKServer(
            configuration: .init(directory: cuhkDirectory, port: 0, ocspPort: 0),
            logger: Logger(label: "cuhk"),
            reporter: cuhkReporter
        )
        // Blackboard trusts the root CUHK wrote, as in the seed where both share cuhk.cer.
        let blackboard = try BlackboardServer(
            configuration: .init(
                directory: blackboardDirectory,
                rootCertificatePath: SecureFile.join(cuhkDirectory, RootAuthority.certificateFileName),
                port: 0
            ),
            logger: Logger(label: "blackboard"),
            reporter: Terminal.reporter(role: "Blackboard")
        )
        let services = ServiceGroup(
            configuration: .init(
                services: [cuhk, blackboard], gracefulShutdownSignals: [.sigint, .sigterm],
                logger: Logger(label: "demo"))
        )

        let receipt = try await withThrowingTaskGroup(of: ReportReceipt?.self) { group in
            group.addTask {
                try await services.run()
                return nil
            }
            group.addTask {
                defer { Task { await services.triggerGracefulShutdown() } }
                let cuhkAddress = try await cuhk.listeningAddress()
                let blackboardAddress = try await blackboard.listeningAddress()
                Terminal.line("[CUHK] listening on \(cuhkAddress.hostAndPort)")
                Terminal.line("[Blackboard] listening on \(blackboardAddress.hostAndPort)")
                let reporter = Terminal.reporter(role: "Student")
                reporter(.request, "Enter student ID (10 digit number): \(studentID)")
                reporter(.request, "Enter your enrollment code (press Enter if you have none): \(code)")
                let (credentials, _) = try await EnrollmentClient(
                    configuration: .init(
                        directory: studentDirectory,
                        certificateAuthority: ServerAddress(host: "127.0.0.1", port: cuhkAddress.port ?? 0),
                        code: code.description
                    ),
                    reporter: reporter
                ).enroll(studentID)
                reporter(.certificate, "SID: \(studentID) sign finished.")
                let receipt = try await UploadClient(
                    configuration: .init(
                        blackboard: ServerAddress(host: "127.0.0.1", port: blackboardAddress.port ?? 0)),
                    reporter: reporter
                ).upload(ReportSource.messages(ReportSource.seedMessages).contents(), as: credentials)
                reporter(
                    .messages,
                    "Receipt: report \(receipt.reportID), \(Count.of(receipt.messageCount, "message")), "
                        + "\(Count.of(receipt.totalBytes, "byte")), SHA-256 \(receipt.digest.hexString)"
                )
                return receipt
            }
            var receipt: ReportReceipt?
            for try await result in group where result != nil { receipt = result }
            return receipt
        }

        guard let receipt, let stored = try await blackboard.store.reports(for: studentID).last,
            stored.digest == receipt.digest, stored.messageCount == UInt64(ReportSource.seedMessages.count)
        else {
            Terminal.error("campus-demo: the report stored by Blackboard does not match the receipt")
            throw ExitCode.failure
        }
        Terminal.line("Demo complete: CUHK and Blackboard shut down; files are in \(directory)")
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "campus-demo-XXXXXX").utf8CString)
        guard let result = mkdtemp(&template) else { throw ValidationError("cannot create a temporary directory") }
        return String(cString: result)
    }
}
