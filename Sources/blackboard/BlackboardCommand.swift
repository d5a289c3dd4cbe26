import ArgumentParser
import CampusBlackboard
import CampusPKI
import Foundation
import Logging
import NIOCore

@main
struct BlackboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blackboard",
        abstract:
            "Blackboard: verifies students' cert 2 (step 3), runs the session (steps 4–5), stores reports (step 6).",
        subcommands: [Serve.self, Reports.self, Show.self],
        defaultSubcommand: Serve.self
    )
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Accept sessions and store reports.")

    @Option(help: "Directory of blackboard.db and, by default, cuhk.cer.")
    var dir: String = "."

    @Option(help: "The trusted root certificate (default: cuhk.cer in --dir).")
    var rootCert: String?

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port.")
    var port: Int = 3141

    @Option(help: "Largest message content accepted, in bytes.")
    var maxMessageSize: Int = 1024 * 1024

    @Option(help: "Seconds a student may stay silent during the handshake.")
    var handshakeTimeout: Int = 10

    @Option(help: "Seconds an established session may stay silent.")
    var idleTimeout: Int = 60

    @Option(help: "Most connections served at once.")
    var maxConnections: Int = 4096

    @Option(help: "Smallest RSA key accepted in cert 2, in bits.")
    var minKeySize: Int = 2048

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard maxMessageSize > 0, handshakeTimeout > 0, idleTimeout > 0, maxConnections > 0 else {
            throw ValidationError("sizes, timeouts and limits must be positive")
        }
        guard minKeySize >= 2048 else { throw ValidationError("--min-key-size must be at least 2048") }
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: logLevel)
        let logger = Logger(label: "blackboard")
        let server: BlackboardServer
        do {
            server = try BlackboardServer(
                configuration: .init(
                    directory: dir,
                    rootCertificatePath: rootCert,
                    host: host,
                    port: port,
                    maximumMessageSize: maxMessageSize,
                    handshakeTimeout: .seconds(Int64(handshakeTimeout)),
                    idleTimeout: .seconds(Int64(idleTimeout)),
                    maximumConnections: maxConnections,
                    minimumKeyBits: minKeySize
                ),
                logger: logger,
                reporter: Terminal.reporter()
            )
        } catch {
            Terminal.error("blackboard: \(error)")
            throw ExitCode(2)
        }
        try await ServiceRunner.run(server, listeningAddress: server.listeningAddress, logger: logger)
    }
}

struct StoreOptions: ParsableArguments {
    @Option(help: "Directory of blackboard.db.")
    var dir: String = "."

    func open() throws -> SQLiteReportStore {
        let path = SecureFile.join(dir, SQLiteReportStore.fileName)
        guard SecureFile.exists(path) else {
            Terminal.error("blackboard: \(path) does not exist")
            throw ExitCode(2)
        }
        return try SQLiteReportStore(path: path)
    }
}

struct Reports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List complete reports.")

    @OptionGroup var store: StoreOptions

    @Option(help: "Only this student's reports.")
    var sid: String?

    func run() async throws {
        var studentID: StudentID?
        if let sid {
            guard let parsed = StudentID(sid) else { throw ValidationError("--sid must be exactly 10 digits") }
            studentID = parsed
        }
        let reports = try await store.open().reports(for: studentID)
        let format = ISO8601DateFormatter()
        Terminal.line("REPORT  SID         MESSAGES  BYTES       COMPLETED AT          SHA-256")
        for report in reports {
            Terminal.line(
                [
                    String(report.id).padding(toLength: 6, withPad: " ", startingAt: 0), report.studentID.rawValue,
                    String(report.messageCount).padding(toLength: 8, withPad: " ", startingAt: 0),
                    String(report.totalBytes).padding(toLength: 10, withPad: " ", startingAt: 0),
                    format.string(from: report.completedAt), report.digest.hexString,
                ].joined(separator: "  ")
            )
        }
        Terminal.line("\(reports.count) report(s)")
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one report with its messages.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The report number, as `blackboard reports` lists it.")
    var report: Int64

    func run() async throws {
        guard let (summary, messages) = try await store.open().report(report) else {
            Terminal.error("blackboard: no report \(report)")
            throw ExitCode(1)
        }
        let format = ISO8601DateFormatter()
        Terminal.line("Report \(summary.id)")
        Terminal.line("  SID:                \(summary.studentID)")
        Terminal.line("  certificate serial: \(summary.certificateSerial)")
        Terminal.line("  session ID:         \(summary.sessionID.hexString)")
        Terminal.line("  completed at:       \(format.string(from: summary.completedAt))")
        Terminal.line("  messages:           \(summary.messageCount)")
        Terminal.line("  bytes:              \(summary.totalBytes)")
        Terminal.line("  SHA-256:            \(summary.digest.hexString)")
        for message in messages {
            Terminal.line(
                "  #\(message.sequence) \(format.string(from: message.receivedAt)) HMAC \(message.mac.hexString)")
            Terminal.line("     \(MessageDisplay.text(message.content))")
        }
    }
}
