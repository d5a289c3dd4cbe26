import ArgumentParser
import CampusCommandLine
import CampusPKI
import CampusStudent
import Foundation

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The whole seed: enroll (or reuse), then the session with Blackboard and the report upload.",
        discussion: """
            Messages come from --message (repeatable) or --file (not both), or else standard input, one per line \
            (each with its line break, so the report is the input byte for byte). At a terminal, each line is sent and \
            acknowledged as it is entered; end the report with Ctrl-D. With --file, the file's name and content type \
            go with the report, encrypted, and Blackboard's exports keep them.
            """
    )

    @OptionGroup var options: EnrollmentOptions

    @Option(help: "Blackboard's address, HOST:PORT.")
    var blackboard: String = ServerAddress.defaultBlackboard.description

    @Option(name: .customLong("message"), help: "A message of the report; repeat for more. Not with --file.")
    var messages: [String] = []

    @Option(help: "Upload this file's bytes, cut into messages of --max-message-size bytes. Not with --message.")
    var file: String?

    @Option(
        help: ArgumentHelp(
            "The media type sent with the report, such as text/plain or application/pdf.",
            discussion: "Default: guessed from the --file name's extension (application/octet-stream when unknown); "
                + "text/plain for --message and standard input."))
    var contentType: String?

    @Option(help: "Largest message content, in bytes (Blackboard's limit).")
    var maxMessageSize: Int = 1024 * 1024

    @Option(
        help: "Messages sent ahead of their acknowledgements (Blackboard commits up to \(ReportWindow.size) together).")
    var window: Int = ReportWindow.size

    @Flag(help: "Send a report with no message (otherwise an empty report is an error and nothing is sent).")
    var allowEmpty = false

    @Option(help: "The assignment to submit to (default: Blackboard's only open assignment).")
    var assignment: String?

    @Option(help: "The DNS name Blackboard's certificate must carry.")
    var blackboardName: String = UploadClient.defaultBlackboardName

    @Flag(help: "Show each step's public values (sizes, fingerprints, transcript hash, nonces, ciphertexts).")
    var explain = false

    func validate() throws {
        _ = try ArgumentChecks.serverAddress(blackboard, option: "--blackboard")
        guard messages.isEmpty || file == nil else {
            throw ValidationError("--message and --file cannot be used together")
        }
        guard maxMessageSize > 0, window > 0 else { throw ValidationError("sizes must be positive") }
        if let contentType, !SubmittedFile.isValidContentType(contentType) {
            throw ValidationError("--content-type: \(SubmittedFile.contentTypeRequirement)")
        }
        if let assignment, !ReceiptDocument.isValidAssignmentName(assignment) {
            throw ValidationError("--assignment: \(ReceiptDocument.assignmentRequirement)")
        }
    }

    func run() async throws {
        StudentLogging.bootstrap()
        try await runReportingFailures {
            let source: ReportSource =
                if let file { .file(path: file, pieceSize: maxMessageSize) } else if !messages.isEmpty {
                    .messages(messages)
                } else { .standardInput }
            // Local things first: nothing is asked of CUHK for a report that cannot be sent.
            try source.check(maximumMessageSize: maxMessageSize, allowsEmpty: allowEmpty)
            let typing = source.isStandardInput && isatty(STDIN_FILENO) == 1
            // Then Blackboard, before enrolling: is the assignment open, and must one be named?
            let address = ServerAddress(blackboard) ?? .defaultBlackboard
            if let open = try await AssignmentCheck.openAssignments(at: address) {
                _ = try AssignmentCheck.choose(assignment ?? "", among: open)
            }
            let credentials = try await options.enroll(explain: explain)
            // Blackboard must prove it holds a certificate from the CUHK root pinned at enrollment.
            let root = try options.enrollment().uploadRoot()
            let feeds = source.feeds()
            let client = UploadClient(
                configuration: .init(
                    blackboard: address,
                    root: root,
                    blackboardName: blackboardName,
                    assignment: assignment ?? "",
                    receiptDirectory: SecureFile.join(options.dir, "receipts"),
                    // A person typing sees each line acknowledged before the next.
                    window: typing ? 1 : window,
                    maximumMessageSize: maxMessageSize,
                    allowsEmptyReport: allowEmpty,
                    announcesTyping: typing,
                    file: FileDescription.of(source, contentType: contentType)
                ),
                observer: SessionObserver(side: .student, explain: explain, reporter: Terminal.reporter())
            )
            let result = try await client.upload(
                feeds: feeds, as: credentials, retrying: options.retryPolicy,
                announce: { Terminal.error("student: \($0.line(server: .blackboard(address)))") })
            let document = result.receipt.document
            Terminal.line(
                "Receipt: report \(document.report), \(Count.of(Int(document.messageCount), "message")), "
                    + "\(Count.of(Int(document.totalBytes), "byte")), SHA-256 \(document.contentSHA256.hexString)"
            )
            if let path = result.path {
                Terminal.line("Signed receipt saved: \(path) (check it with: student verify-receipt \(path))")
            }
            for (name, value) in document.summaryFieldLines() {
                Terminal.line("  \(name.padded(to: 19)) \(value)")
            }
        }
    }
}

enum StudentLogging {
    static func bootstrap() {
        ServiceRunner.bootstrapLogging(level: .warning)
    }
}
