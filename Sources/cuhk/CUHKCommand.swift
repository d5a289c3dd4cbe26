import ArgumentParser
import CampusAuthority
import CampusCommandLine
import CampusPKI
import Foundation
import Logging
import NIOCore

@main
struct CUHKCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cuhk",
        abstract: "CUHK, the certificate authority: keeps the root (step 0) and signs students' CSRs (step 2).",
        version: CampusPKIVersion.current,
        subcommands: [Serve.self, Init.self, Issued.self],
        defaultSubcommand: Serve.self
    )

    static func main() async {
        SubcommandSuggestion.check(self, arguments: Array(CommandLine.arguments.dropFirst()))
        await main(nil)
    }
}

struct RootOptions: ParsableArguments {
    @Option(help: "Directory of cuhk.key, cuhk.cer and cuhk.db.")
    var dir: String = "."

    @Option(help: "RSA key size for a new root key, in bits.")
    var keySize: Int = 2048

    @Option(help: "Operational log level (standard error).")
    var logLevel: Logger.Level = .info

    @Flag(help: "Load cuhk.key even if others may read it.")
    var allowInsecureKeyPermissions = false

    func validate() throws {
        guard keySize >= 2048 else { throw ValidationError("--key-size must be at least 2048") }
    }

    var root: RootAuthority.Configuration {
        .init(directory: dir, keySize: keySize, allowInsecureKeyPermissions: allowInsecureKeyPermissions)
    }
}

/// Fault injection for the crash tests: with `CAMPUSPKI_CRASH_AT=<step>` in the environment, the process kills
/// itself with SIGKILL right after that step of a root's creation, as a power cut would stop it.
func crashPointFromEnvironment() -> (RootAuthority.CreationStep) -> Void {
    guard let name = ProcessInfo.processInfo.environment["CAMPUSPKI_CRASH_AT"],
        let target = RootAuthority.CreationStep(rawValue: name)
    else { return { _ in } }
    return { step in if step == target { kill(getpid(), SIGKILL) } }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load or create the root, then issue certificates.")

    @OptionGroup var options: RootOptions

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port.")
    var port: Int = 9335

    @Option(help: "Validity of issued certificates, in days.")
    var validityDays: Int = 365

    @Option(help: "Smallest RSA key accepted in a CSR, in bits.")
    var minKeySize: Int = 2048

    @Option(help: "Largest request frame accepted, in bytes.")
    var maxFrameSize: Int = 64 * 1024

    @Option(help: "Seconds a client may stay silent before it is dropped.")
    var timeout: Int = 10

    @Option(
        help: ArgumentHelp(
            "Most connections served at once.",
            discussion:
                "Default: what the file descriptor limit allows, at most \(CUHKServer.defaultMaximumConnections)."
        ))
    var maxConnections: Int?

    @Option(help: "Seconds that enrollments in flight may go on after SIGINT or SIGTERM; a second signal ends them.")
    var shutdownGrace: Int = ConnectionLimit.defaultShutdownGraceSeconds

    func validate() throws {
        try ArgumentChecks.listeningPort(port)
        guard validityDays > 0 else { throw ValidationError("--validity-days must be positive") }
        guard minKeySize >= 2048 else { throw ValidationError("--min-key-size must be at least 2048") }
        guard timeout > 0, maxFrameSize > 0, maxConnections ?? 1 > 0 else {
            throw ValidationError("--timeout, --max-frame-size and --max-connections must be positive")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be 0 or more") }
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: options.logLevel)
        let logger = Logger(label: "cuhk")
        let configuration = CUHKServer.Configuration(
            directory: options.dir,
            rootKeySize: options.keySize,
            allowInsecureKeyPermissions: options.allowInsecureKeyPermissions,
            host: host,
            port: port,
            issuing: .init(validityDays: validityDays, minimumKeyBits: minKeySize),
            maximumFrameSize: maxFrameSize,
            timeout: .seconds(Int64(timeout)),
            maximumConnections: ServerLauncher.connectionLimit(
                requested: maxConnections, cap: CUHKServer.defaultMaximumConnections, logger: logger),
            shutdownGrace: .seconds(Int64(shutdownGrace))
        )
        // The port first: a port that is taken must not leave a new root behind.
        let listener = try await ServerLauncher.bind(program: "cuhk", host: host, port: port) {
            try await CUHKServer.listen(configuration: configuration, logger: logger)
        }
        let crash = crashPointFromEnvironment()
        let server = try ServerLauncher.start(program: "cuhk", logger: logger) {
            try CUHKServer(
                configuration: configuration, listener: listener, logger: logger, reporter: Terminal.reporter(),
                checkpoint: crash)
        }
        try await ServiceRunner.run(server, logger: logger)
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create (or check) the root key and certificate, then exit.")

    @OptionGroup var options: RootOptions

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: options.logLevel)
        do {
            let (root, origin) = try RootAuthority.load(or: options.root, checkpoint: crashPointFromEnvironment())
            let verb = origin == .created ? "created" : "already present"
            Terminal.line(
                "[Step 0] Root \(verb): \(root.certificate.subject), serial \(root.certificate.serialNumber.hex)")
            Terminal.line("[Step 0] Root SHA-256 fingerprint \(root.certificate.sha256Fingerprint)")
        } catch {
            Terminal.error("cuhk init: \(error)")
            throw ExitCode(2)
        }
    }
}

struct Issued: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the certificates CUHK has issued.")

    @Option(help: "Directory of cuhk.db.")
    var dir: String = "."

    @Option(help: "Only this student's certificates.")
    var sid: String?

    @Flag(help: "Print JSON (a stable format, see README) instead of a table.")
    var json = false

    func validate() throws {
        if let sid { _ = try ArgumentChecks.studentID(sid) }
    }

    func run() async throws {
        let studentID = sid.flatMap(StudentID.init)
        let path = SecureFile.join(dir, SQLiteCertificateRegistry.fileName)
        guard SecureFile.exists(path) else {
            Terminal.error("cuhk issued: \(path) does not exist (run cuhk first, or give --dir)")
            throw ExitCode(2)
        }
        let registry = try ServerLauncher.start(program: "cuhk issued", logger: Logger(label: "cuhk")) {
            try SQLiteCertificateRegistry(path: path, checkWrites: false)
        }
        let certificates = try await registry.certificates(for: studentID)
        if json {
            try JSONOutput.print(certificates.map(IssuedCertificateJSON.init))
            return
        }
        Terminal.line("SERIAL                            SID         NOT AFTER             ISSUED AT")
        for certificate in certificates {
            Terminal.line(
                [
                    certificate.serial, certificate.studentID.rawValue,
                    JSONOutput.timestamp(certificate.notValidAfter), JSONOutput.timestamp(certificate.issuedAt),
                ].joined(separator: "  ")
            )
        }
        Terminal.line(Count.of(certificates.count, "certificate"))
    }
}

/// One certificate in `cuhk issued --json`.
struct IssuedCertificateJSON: Encodable {
    var serial: String
    var sid: String
    var notBefore: String
    var notAfter: String
    var issuedAt: String

    init(_ certificate: IssuedCertificate) {
        serial = certificate.serial
        sid = certificate.studentID.rawValue
        notBefore = JSONOutput.timestamp(certificate.notValidBefore)
        notAfter = JSONOutput.timestamp(certificate.notValidAfter)
        issuedAt = JSONOutput.timestamp(certificate.issuedAt)
    }
}
