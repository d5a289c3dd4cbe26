import ArgumentParser
import CampusPKI
import CampusStudent

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The whole seed: enroll (or reuse), then the session with Blackboard and the report upload.",
        discussion: "Messages come from --message (repeatable), or --file, or else standard input, one per line."
    )

    @OptionGroup var options: EnrollmentOptions

    @Option(help: "Blackboard's address, HOST:PORT.")
    var blackboard: String = ServerAddress.defaultBlackboard.description

    @Option(name: .customLong("message"), help: "A message of the report; repeat for more.")
    var messages: [String] = []

    @Option(help: "Upload this file's bytes, cut into messages of at most --max-message-size bytes.")
    var file: String?

    @Option(help: "Largest message content, in bytes (Blackboard's limit).")
    var maxMessageSize: Int = 1024 * 1024

    @Option(help: "Messages sent ahead of their acknowledgements.")
    var window: Int = 8

    func validate() throws {
        guard ServerAddress(blackboard) != nil else { throw ValidationError("--blackboard must be HOST:PORT") }
        guard messages.isEmpty || file == nil else { throw ValidationError("use --message or --file, not both") }
        guard maxMessageSize > 0, window > 0 else { throw ValidationError("sizes must be positive") }
    }

    func run() async throws {
        StudentLogging.bootstrap()
        try await runReportingFailures {
            let credentials = try await options.enroll()
            let source: ReportSource =
                if let file { .file(path: file, pieceSize: maxMessageSize) } else if !messages.isEmpty {
                    .messages(messages)
                } else { .standardInput }
            let client = UploadClient(
                configuration: .init(blackboard: ServerAddress(blackboard) ?? .defaultBlackboard, window: window),
                reporter: Terminal.reporter()
            )
            let receipt = try await client.upload(try source.contents(), as: credentials)
            Terminal.line(
                "Receipt: report \(receipt.reportID), \(receipt.messageCount) messages, \(receipt.totalBytes) bytes, "
                    + "SHA-256 \(receipt.digest.hexString)"
            )
        }
    }
}

enum StudentLogging {
    static func bootstrap() {
        ServiceRunner.bootstrapLogging(level: .warning)
    }
}
