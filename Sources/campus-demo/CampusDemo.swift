import ArgumentParser
import CampusAdmin
import CampusAuthority
import CampusBlackboard
import CampusCommandLine
import CampusPKI
import CampusStorage
import CampusStudent
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import X509

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

    @Flag(help: "Show each step's public values (sizes, fingerprints, transcript hash, nonces, ciphertexts).")
    var explain = false

    @Flag(help: "Leave CUHK and Blackboard running afterwards, with their web interfaces; Ctrl-C stops them.")
    var keep = false

    func validate() throws {
        _ = try ArgumentChecks.studentID(sid)
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: logLevel)
        let studentID = StudentID(sid)!
        let directory = try dir ?? Self.makeTemporaryDirectory()
        let cuhkDirectory = SecureFile.join(directory, "cuhk")
        let blackboardDirectory = SecureFile.join(directory, "blackboard")
        Terminal.line("CampusPKI demo in \(directory)")

        try SecureFile.createDirectory(cuhkDirectory)
        try SecureFile.createDirectory(blackboardDirectory)
        let logger = Logger(label: "demo")
        // Each server's records in SQLite in its directory, as `cuhk` and `blackboard` keep them by default.
        try await StoreOpener.withAuthorityStore(at: .sqlite(directory: cuhkDirectory), logger: logger) { registry in
            try await StoreOpener.withBlackboardStore(at: .sqlite(directory: blackboardDirectory), logger: logger) {
                blackboardStore in
                try await run(
                    studentID: studentID, directory: directory, registry: registry, blackboardStore: blackboardStore)
            }
        }
    }

    func run(
        studentID: StudentID, directory: String, registry: any AuthorityStore, blackboardStore: any BlackboardStore
    ) async throws {
        let cuhkDirectory = SecureFile.join(directory, "cuhk")
        let blackboardDirectory = SecureFile.join(directory, "blackboard")
        let studentDirectory = SecureFile.join(directory, "student")
        // The roster way, as a course runs it: the staff import the roster and hand out a one-time code. Stored before
        // CUHK starts (so it does not report an empty roster), told after its step 0.
        _ = try await registry.importRoster([RosterEntry(studentID: studentID, name: "Demo Student")])
        let code = EnrollmentCode.random()
        _ = try await registry.storeCode(
            code, for: studentID, issuedAt: Date(), expiresAt: Date().addingTimeInterval(7 * 86_400))
        let cuhkReporter = Terminal.reporter(role: "CUHK")
        // Every port is a free one, so CUHK's OCSP responder has a new address each run: in a directory used before,
        // a Blackboard certificate naming the old one is replaced (and the Student enrolls again, below).
        let cuhk = try await CUHKServer(
            configuration: .init(
                directory: cuhkDirectory, port: 0, ocspPort: 0, adminPort: keep ? 0 : nil,
                issuesBlackboardCertificate: true, replacesStaleBlackboardCertificate: true, explain: explain),
            store: registry,
            logger: Logger(label: "cuhk"),
            reporter: cuhkReporter
        )
        // Blackboard starts once CUHK has issued its certificate, and trusts the root CUHK wrote, as in the seed where
        // both share cuhk.cer.
        let blackboardStarted = Started<BlackboardServer>()
        let explain = explain
        let keep = keep
        let blackboardService = AfterwardsService(started: blackboardStarted) {
            _ = try await cuhk.listeningAddress()
            let blackboard = try BlackboardServer(
                configuration: .init(
                    directory: blackboardDirectory,
                    rootCertificatePath: SecureFile.join(cuhkDirectory, RootAuthority.certificateFileName),
                    certificatePath: ServiceCertificate.certificatePath(
                        name: CUHKServer.blackboardName, in: cuhkDirectory),
                    keyPath: ServiceCertificate.keyPath(name: CUHKServer.blackboardName, in: cuhkDirectory),
                    explain: explain,
                    adminPort: keep ? 0 : nil,
                    port: 0
                ),
                store: blackboardStore,
                logger: Logger(label: "blackboard"),
                reporter: Terminal.reporter(role: "Blackboard")
            )
            // Blackboard knows the course's roster too, so its dashboard names the student and counts who is missing.
            _ = try await blackboard.store.importRoster([RosterEntry(studentID: studentID, name: "Demo Student")])
            try await Self.openAssignment(in: blackboard)
            return blackboard
        }
        let services = ServiceGroup(
            configuration: .init(
                services: [cuhk, blackboardService], gracefulShutdownSignals: [.sigint, .sigterm],
                logger: Logger(label: "demo"))
        )

        let result = try await withThrowingTaskGroup(of: (UploadClient.Result, BlackboardServer)?.self) { group in
            group.addTask {
                try await services.run()
                return nil
            }
            group.addTask {
                defer { if !keep { Task { await services.triggerGracefulShutdown() } } }
                let cuhkAddress = try await cuhk.listeningAddress()
                cuhkReporter(
                    .request, "Roster imported: \(studentID) (Demo Student); one-time enrollment code \(code) issued")
                let blackboard = try await blackboardStarted.value()
                let blackboardAddress = try await blackboard.listeningAddress()
                Terminal.line("[CUHK] listening on \(cuhkAddress.hostAndPort)")
                Terminal.line("[Blackboard] listening on \(blackboardAddress.hostAndPort)")
                let reporter = Terminal.reporter(role: "Student")
                let saved = [
                    StudentCredentials.keyPath(for: studentID, in: studentDirectory),
                    StudentCredentials.certificatePath(for: studentID, in: studentDirectory),
                ]
                if Self.namesAnotherResponder(saved[1], than: cuhk.authority.configuration.ocspURL) {
                    // Blackboard could not learn its status from an earlier run's responder: enroll again.
                    let suffix = try SecureFile.moveAside(saved)
                    reporter(
                        .request,
                        "The saved certificate names an earlier run's OCSP responder; moved aside (.\(suffix).old), "
                            + "enrolling again")
                }
                reporter(.request, "Enter student ID (10 digit number): \(studentID)")
                // The Student asks for the code without echo; the demo types the one CUHK printed above.
                reporter(.request, "Enter your enrollment code (press Enter if you have none): (typed, not shown)")
                let enrollment = EnrollmentClient(
                    configuration: .init(
                        directory: studentDirectory,
                        certificateAuthority: ServerAddress(host: "127.0.0.1", port: cuhkAddress.port ?? 0),
                        code: code
                    ),
                    reporter: reporter,
                    explain: explain
                )
                let (credentials, _) = try await enrollment.enroll(studentID)
                reporter(.certificate, "SID: \(studentID) sign finished.")
                let result = try await UploadClient(
                    configuration: .init(
                        blackboard: ServerAddress(host: "127.0.0.1", port: blackboardAddress.port ?? 0),
                        root: try enrollment.uploadRoot(),
                        receiptDirectory: SecureFile.join(studentDirectory, "receipts")),
                    observer: SessionObserver(side: .student, explain: explain, reporter: reporter)
                ).upload(ReportSource.messages(ReportSource.seedMessages).contents(), as: credentials)
                let document = result.receipt.document
                reporter(
                    .messages,
                    "Receipt: report \(document.report), \(Count.of(Int(document.messageCount), "message")), "
                        + "\(Count.of(Int(document.totalBytes), "byte")), SHA-256 \(document.contentSHA256.hexString)"
                )
                try await Self.verifyOffline(result, cuhkDirectory: cuhkDirectory)
                if !keep {
                    try await Self.closeAndCheckManifest(
                        result, blackboard: blackboard, blackboardDirectory: blackboardDirectory,
                        cuhkDirectory: cuhkDirectory)
                }
                if keep {
                    try await Self.check(result, stored: blackboard, studentID: studentID)
                    let cuhkAdmin = try await cuhk.adminAddress()
                    let blackboardAdmin = try await blackboard.adminAddress()
                    Terminal.line("The servers keep running; their web interfaces (open the login URLs):")
                    Terminal.line("[CUHK] dashboard at \(AdminServer.url(cuhkAdmin))")
                    Terminal.line("[CUHK] login at \(cuhk.admin?.loginURL(cuhkAdmin) ?? "")")
                    Terminal.line("[Blackboard] dashboard at \(AdminServer.url(blackboardAdmin))")
                    Terminal.line("[Blackboard] login at \(blackboard.admin?.loginURL(blackboardAdmin) ?? "")")
                    Terminal.line(
                        "Closing the assignment \(document.assignment) (on the dashboard, or blackboard assignment close "
                            + "\(document.assignment) --dir \(blackboardDirectory)) makes its deadline manifest, served "
                            + "at \(AdminServer.url(blackboardAdmin, path: ManifestRoute.path(assignment: document.assignment, kind: .onTime)))"
                    )
                    Terminal.line("Press Ctrl-C to stop them.")
                }
                return (result, blackboard)
            }
            var upload: (UploadClient.Result, BlackboardServer)?
            for try await result in group where result != nil { upload = result }
            return upload
        }

        guard let (result, blackboard) = result else {
            Terminal.error("campus-demo: the servers stopped before the Student finished")
            throw ExitCode.failure
        }
        try await Self.check(result, stored: blackboard, studentID: studentID)
        Terminal.line("Demo complete: CUHK and Blackboard shut down; files are in \(directory)")
    }

    /// Whether the certificate saved at `path` names another OCSP responder than `url` (a directory used by an
    /// earlier run, whose CUHK had another free port): Blackboard could not learn its status, so the Student enrolls
    /// again.
    static func namesAnotherResponder(_ path: String, than url: String?) -> Bool {
        guard let pem = try? SecureFile.readText(at: path), let certificate = try? Certificate(pemEncoded: pem) else {
            return false
        }
        return certificate.ocspResponderURLs != (url.map { [$0] } ?? [])
    }

    /// The receipt proves the submission to anyone with CUHK's root: the saved file is checked as a third party would.
    static func verifyOffline(_ result: UploadClient.Result, cuhkDirectory: String) async throws {
        if let path = result.path {
            let rootPath = SecureFile.join(cuhkDirectory, RootAuthority.certificateFileName)
            let verified = try await SignedReceipt.verify(
                try SignedReceipt.readFile(path),
                root: try Certificate(pemEncoded: try SecureFile.readText(at: rootPath) ?? ""),
                blackboardName: CUHKServer.blackboardName)
            Terminal.line(
                "[Anyone] Signed receipt \(path) verified offline against \(rootPath): report "
                    + "\(verified.document.report), signed by \(verified.signerName)")
            Terminal.line(
                "[Anyone] The same with OpenSSL: openssl cms -verify -inform DER -in \(path) -CAfile \(rootPath) -purpose any"
            )
            guard let timestamp = verified.timestamp, case .cuhk(let token) = verified.document.timestamp else {
                Terminal.line("[Anyone] The receipt has no CUHK timestamp: its time is Blackboard's claim only")
                return
            }
            Terminal.line(
                "[Anyone] Timestamped by CUHK at \(timestamp.generationTimeText): the token verifies against "
                    + "\(rootPath) and covers this report; \(verified.document.isLate ? "late" : "on time") by CUHK's time"
            )
            // What `student verify-receipt --export-timestamp … --export-timestamp-data …` writes, for OpenSSL.
            let base = String(path.dropLast(".p7s".count))
            let tokenPath = base + ".token.der"
            let dataPath = base + ".timestamped.txt"
            for (file, bytes) in [
                (tokenPath, token), (dataPath, TimestampedReport(receipt: verified.document).canonicalBytes),
            ]
            where !SecureFile.exists(file) {
                try SecureFile.write(bytes, to: file, mode: SecureFile.publicMode, replacing: false)
            }
            Terminal.line(
                "[Anyone] The timestamp with OpenSSL: openssl ts -verify -data \(dataPath) -in \(tokenPath) -token_in "
                    + "-CAfile \(rootPath)")
        }
    }

    /// Closes the demo's assignment, has Blackboard make its deadline manifest, and checks the receipt against it as
    /// anyone could, with the published file and CUHK's root.
    static func closeAndCheckManifest(
        _ result: UploadClient.Result, blackboard: BlackboardServer, blackboardDirectory: String, cuhkDirectory: String
    ) async throws {
        let name = result.receipt.document.assignment
        guard try await blackboard.store.closeAssignment(named: name),
            let closed = try await blackboard.store.assignments().first(where: { $0.name == name })
        else { return }
        Terminal.line("[Blackboard] Assignment \(name) closed")
        let manifest = try await blackboard.manifests.make(.onTime, of: closed)
        let path = SecureFile.join(blackboardDirectory, ManifestRoute.fileName(assignment: name, kind: .onTime))
        if !SecureFile.exists(path) {
            try SecureFile.write(manifest.bundle.bytes, to: path, mode: SecureFile.publicMode, replacing: false)
        }
        let rootPath = SecureFile.join(cuhkDirectory, RootAuthority.certificateFileName)
        let bundle = try ManifestBundle(
            parsing: try SecureFile.readBytes(at: path, limit: ManifestBundle.maximumSize) ?? [])
        let verified = try await SignedManifest.verify(
            bundle.signedManifest, root: try Certificate(pemEncoded: try SecureFile.readText(at: rootPath) ?? ""),
            blackboardName: CUHKServer.blackboardName, receipt: result.signedReceipt,
            evidence: .leaves(bundle.leafData),
            window: SignedManifest.timestampWindow)
        Terminal.line(
            "[Anyone] Manifest \(path) verified against \(rootPath): signed by Blackboard, timestamped by CUHK at "
                + "\(verified.timestamp.generationTimeText); the leaves listed "
                + "(\(verified.document.treeSize)) make its root, and the receipt is leaf \(verified.receiptIndex ?? 0)"
        )
        Terminal.line(
            "[Anyone] The same with the programs: student verify-receipt \(result.path ?? "RECEIPT") --manifest \(path); "
                + "blackboard manifest verify \(path) --root-cert \(rootPath)")
    }

    /// An earlier run in the same directory closed its assignment (to make its manifest): add the next one, so the
    /// Student again finds exactly one open assignment.
    static func openAssignment(in blackboard: BlackboardServer) async throws {
        let assignments = try await blackboard.store.assignments()
        guard !assignments.contains(where: \.isOpen) else { return }
        let names = Set(assignments.map(\.name))
        let name = (2...).lazy.map { "\(Assignment.defaultName)-\($0)" }.first { !names.contains($0) }!
        try await blackboard.store.addAssignment(Assignment(name: name, deadline: nil))
        Terminal.line("[Blackboard] The assignments of earlier runs are closed; \(name) added, without a deadline")
    }

    /// The report Blackboard stored is the one the receipt describes.
    static func check(_ result: UploadClient.Result, stored blackboard: BlackboardServer, studentID: StudentID)
        async throws
    {
        guard let stored = try await blackboard.store.reports(for: studentID).last,
            stored.digest == result.receipt.document.contentSHA256,
            stored.messageCount == UInt64(ReportSource.seedMessages.count), stored.receipt == result.signedReceipt
        else {
            Terminal.error("campus-demo: the report stored by Blackboard does not match the receipt")
            throw ExitCode.failure
        }
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "campus-demo-XXXXXX").utf8CString)
        guard let result = mkdtemp(&template) else { throw ValidationError("cannot create a temporary directory") }
        return String(cString: result)
    }
}

/// A value that one task makes and others wait for.
final class Started<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Result<Value, any Error>?, waiters: [CheckedContinuation<Value, any Error>])>(
        (nil, []))

    func settle(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard state.value == nil else { return [] }
            state.value = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { state -> Result<Value, any Error>? in
                if state.value == nil { state.waiters.append(continuation) }
                return state.value
            }
            if let result { continuation.resume(with: result) }
        }
    }
}

/// A service made only when `make` can make it (Blackboard, once CUHK has issued its certificate), run in the same
/// service group as the others, so that it shuts down with them.
struct AfterwardsService<Server: Service & Sendable>: Service {
    let started: Started<Server>
    let make: @Sendable () async throws -> Server

    init(started: Started<Server>, make: @escaping @Sendable () async throws -> Server) {
        self.started = started
        self.make = make
    }

    func run() async throws {
        let server: Server
        do {
            server = try await make()
        } catch {
            started.settle(.failure(error))
            throw error
        }
        started.settle(.success(server))
        try await server.run()
    }
}
