import ArgumentParser
import CampusAdmin
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
        subcommands: [
            Serve.self, Init.self, Issued.self, Revoke.self, Roster.self, Codes.self, Service.self,
            AdminTokenCommand.self,
        ],
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

    @Flag(help: "The seed's way, for teaching: anyone may enroll any 10-digit SID, with no roster and no code.")
    var openEnrollment = false

    @Option(help: "Wrong codes for a SID before it is locked.")
    var lockoutAttempts: Int = EnrollmentPolicy.Lockout().attempts

    @Option(help: "How long a SID stays locked after too many wrong codes (30s, 15m, 2h).")
    var lockoutDuration: DurationArgument = DurationArgument(argument: "15m")!

    @Option(help: "Port of the OCSP responder (HTTP) on --host; 0 picks a free port.")
    var ocspPort: Int = OCSPResponder.defaultPort

    @Option(help: "The responder URL written in issued certificates (default: http://HOST:OCSPPORT/).")
    var ocspURL: String?

    @Option(help: "How long an OCSP response is valid, and so how long Blackboard may cache it (3600, 1h).")
    var ocspValidity: DurationArgument = DurationArgument(argument: "\(Int(OCSPResponder.defaultValiditySeconds))")!

    @Option(
        help: ArgumentHelp(
            "Port of the web interface (HTTP) on --admin-host; 0 picks a free port.",
            discussion:
                "Default: \(CUHKServer.defaultAdminPort), or 0 (a free port) when --port is 0, so that servers "
                + "started on free ports do not collide on this one."))
    var adminPort: Int?

    @Option(help: "Address of the web interface; keep it on loopback unless a proxy with TLS is in front.")
    var adminHost: String = "127.0.0.1"

    @Flag(help: "Run no web interface.")
    var noAdmin = false

    @Flag(
        help: ArgumentHelp(
            "Do not issue Blackboard's certificate beside a new root.",
            discussion:
                "By default, when cuhk creates its root it also writes blackboard.key (0600) and blackboard.cer "
                + "into --dir, where a Blackboard run in the same directory finds them."))
    var noBlackboardCertificate = false

    func validate() throws {
        try ArgumentChecks.listeningPort(port)
        try ArgumentChecks.listeningPort(ocspPort, option: "--ocsp-port")
        if let adminPort = resolvedAdminPort {
            try ArgumentChecks.listeningPort(adminPort, option: "--admin-port")
            if adminPort != 0, adminHost == host, [port, ocspPort].contains(adminPort) {
                throw ValidationError("--admin-port must differ from --port and --ocsp-port")
            }
        }
        if let ocspURL {
            guard let url = URL(string: ocspURL), url.scheme == "http", url.host != nil else {
                throw ValidationError("--ocsp-url must be an http:// URL (OCSP is signed, so it needs no TLS)")
            }
        }
        guard validityDays > 0 else { throw ValidationError("--validity-days must be positive") }
        guard minKeySize >= 2048 else { throw ValidationError("--min-key-size must be at least 2048") }
        guard timeout > 0, maxFrameSize > 0, maxConnections ?? 1 > 0 else {
            throw ValidationError("--timeout, --max-frame-size and --max-connections must be positive")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be 0 or more") }
        guard lockoutAttempts > 0 else { throw ValidationError("--lockout-attempts must be positive") }
    }

    /// `--admin-port`, or its default: 0 with `--port 0`, else ``CUHKServer/defaultAdminPort``.
    var resolvedAdminPort: Int? {
        noAdmin ? nil : adminPort ?? (port == 0 ? 0 : CUHKServer.defaultAdminPort)
    }

    var enrollment: EnrollmentPolicy {
        openEnrollment
            ? .open : .roster(.init(attempts: lockoutAttempts, duration: lockoutDuration.seconds))
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
            enrollment: enrollment,
            maximumFrameSize: maxFrameSize,
            timeout: .seconds(Int64(timeout)),
            maximumConnections: ServerLauncher.connectionLimit(
                requested: maxConnections, cap: CUHKServer.defaultMaximumConnections, logger: logger),
            shutdownGrace: .seconds(Int64(shutdownGrace)),
            ocspPort: ocspPort,
            ocspURL: ocspURL,
            ocspValidity: ocspValidity.seconds,
            adminPort: resolvedAdminPort,
            adminHost: adminHost
        )
        // The port first: a port that is taken must not leave a new root behind.
        let listener = try await ServerLauncher.bind(program: "cuhk", host: host, port: port) {
            try await CUHKServer.listen(configuration: configuration, logger: logger)
        }
        if ocspPort != 0 {
            try await ServerLauncher.bind(program: "cuhk", host: host, port: ocspPort, option: "--ocsp-port") {
                try await CUHKServer.checkPortIsFree(host: host, port: ocspPort)
            }
        }
        if let adminPort = resolvedAdminPort, adminPort != 0 {
            try await ServerLauncher.bind(
                program: "cuhk", host: adminHost, port: adminPort, option: "--admin-port", hostOption: "--admin-host"
            ) {
                try await CUHKServer.checkPortIsFree(host: adminHost, port: adminPort)
            }
        }
        let crash = crashPointFromEnvironment()
        let server = try ServerLauncher.start(program: "cuhk", logger: logger) {
            try CUHKServer(
                configuration: configuration, listener: listener, logger: logger, reporter: Terminal.reporter(),
                checkpoint: crash)
        }
        if !noBlackboardCertificate {
            do {
                try await server.issueBlackboardCertificateBesideNewRoot(reporter: Terminal.reporter())
            } catch {
                Terminal.error("cuhk: Blackboard's certificate could not be issued: \(error)")
                throw ExitCode(2)
            }
        }
        try await ServiceRunner.run(server, logger: logger) { _ in
            // Scripts and tests find the responder's port in this line, as they find CUHK's in `listening on`.
            if let address = server.ocspAddress { Terminal.line("ocsp listening on \(address.hostAndPort)") }
            if let admin = server.admin, let address = admin.bound.current {
                Terminal.line("dashboard at \(AdminServer.url(address))")
                Terminal.line("login at \(admin.loginURL(address))")
            }
        }
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
        let registry = try RegistryFile.open(in: dir, by: "cuhk issued", writing: false)
        let certificates = try await registry.certificates(for: studentID)
        if json {
            try JSONOutput.print(certificates.map(IssuedCertificateJSON.init))
            return
        }
        // 32 + 10 + 20 + 20 + 8 characters and four gaps of 2: 98 columns at most (`revoked (…)` may run over).
        Terminal.line(
            "SERIAL                            SID         NOT AFTER             ISSUED AT             STATUS")
        let now = Date()
        for certificate in certificates {
            Terminal.line(
                [
                    certificate.serial, certificate.studentID.rawValue,
                    JSONOutput.timestamp(certificate.notValidAfter), JSONOutput.timestamp(certificate.issuedAt),
                    certificate.status(at: now),
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
    var status: String
    var revokedAt: String?
    var revocationReason: String?

    init(_ certificate: IssuedCertificate) {
        serial = certificate.serial
        sid = certificate.studentID.rawValue
        notBefore = JSONOutput.timestamp(certificate.notValidBefore)
        notAfter = JSONOutput.timestamp(certificate.notValidAfter)
        issuedAt = JSONOutput.timestamp(certificate.issuedAt)
        status = certificate.revocation == nil ? certificate.status() : "revoked"
        revokedAt = certificate.revocation.map { JSONOutput.timestamp($0.time) }
        revocationReason = certificate.revocation?.reason.rawValue
    }
}

extension RevocationReason: ExpressibleByArgument {}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a certificate (a lost laptop, a student who left), durably.",
        discussion: "Give --sid to revoke every certificate of a student that is not revoked yet, or --serial for one."
    )

    @Option(help: "Directory of cuhk.db.")
    var dir: String = "."

    @Option(help: "Revoke every certificate of this student.")
    var sid: String?

    @Option(help: "Revoke the certificate with this serial number (hex, as `cuhk issued` lists it).")
    var serial: String?

    @Option(help: "Why; recorded with the revocation.")
    var reason: RevocationReason = .cessationOfOperation

    func validate() throws {
        guard (sid == nil) != (serial == nil) else { throw ValidationError("give either --sid or --serial") }
        if let sid { _ = try ArgumentChecks.studentID(sid) }
    }

    func run() async throws {
        let registry = try RegistryFile.open(in: dir, by: "cuhk revoke", writing: true)
        let revoked: [IssuedCertificate]
        do {
            if let serial {
                revoked = [try await registry.revoke(serial: serial, reason: reason, at: Date())]
            } else {
                revoked = try await registry.revokeAll(of: StudentID(sid!)!, reason: reason, at: Date())
            }
        } catch let error as RegistryError {
            Terminal.error("cuhk revoke: \(error)")
            throw ExitCode(1)
        }
        for certificate in revoked {
            Terminal.line("Revoked \(certificate.serial) (SID \(certificate.studentID)), reason \(reason.rawValue)")
        }
        Terminal.line(Count.of(revoked.count, "certificate") + " revoked")
        guard !revoked.isEmpty else { return }
        Terminal.line(
            "In effect now in cuhk.db: a running cuhk says so at once in its OCSP answers and its revocation list "
                + "(GET /crl on the OCSP port); Blackboard fetches that list every "
                + "\(RevocationListDefaults.pollIntervalSeconds) s by default (blackboard serve --crl-interval), so "
                + "within seconds it refuses new sessions of the certificate and ends the open ones")
    }
}

/// Opens `cuhk.db` for the listing and managing commands.
enum RegistryFile {
    /// - Parameters:
    ///   - creating: Create the database if it does not exist (importing a roster before CUHK's first start).
    static func open(in directory: String, by program: String, writing: Bool, creating: Bool = false) throws
        -> SQLiteCertificateRegistry
    {
        let path = SecureFile.join(directory, SQLiteCertificateRegistry.fileName)
        if !creating {
            guard SecureFile.exists(path) else {
                Terminal.error("\(program): \(path) does not exist (run cuhk first, or give --dir)")
                throw ExitCode(2)
            }
        }
        return try ServerLauncher.start(program: program, logger: Logger(label: "cuhk")) {
            if creating { try SecureFile.createDirectory(directory) }
            return try SQLiteCertificateRegistry(path: path, checkWrites: writing)
        }
    }
}

struct Service: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Certificates for services.",
        subcommands: [Issue.self]
    )

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue Blackboard's certificate: <name>.key (ECDSA P-256, 0600) and <name>.cer in --out.",
            discussion: """
                The certificate has subject and SubjectAlternativeName DNS name <name>, ExtendedKeyUsage serverAuth \
                and KeyUsage digitalSignature, so it cannot stand in for a student's certificate (nor the other way \
                round). An existing key is never replaced.
                """
        )

        @OptionGroup var options: RootOptions

        @Option(help: "The service's name (a DNS name).")
        var name: String = "blackboard"

        @Option(help: "Where to write the key and certificate (Blackboard's directory).")
        var out: String = "."

        @Option(help: "Validity, in days.")
        var validityDays: Int = 365

        func validate() throws {
            guard ServiceCertificate.isValidName(name) else {
                throw ValidationError("--name \"\(ControlCharacters.escaped(name))\" is not a DNS name")
            }
            guard validityDays > 0 else { throw ValidationError("--validity-days must be positive") }
        }

        func run() async throws {
            ServiceRunner.bootstrapLogging(level: options.logLevel)
            let keyPath = ServiceCertificate.keyPath(name: name, in: out)
            guard !SecureFile.exists(keyPath) else {
                Terminal.error(
                    "cuhk service issue: \(keyPath) exists already and is never replaced; move it away first")
                throw ExitCode(1)
            }
            // The certificate is only as good as the root that signs it: never a root made here by accident.
            guard SecureFile.exists(SecureFile.join(options.dir, RootAuthority.certificateFileName)) else {
                Terminal.error(
                    "cuhk service issue: no root in \(options.dir) (no \(RootAuthority.certificateFileName)); "
                        + "run it where CUHK's key is (--dir), or create the root with cuhk init first")
                throw ExitCode(2)
            }
            do {
                let (root, _) = try RootAuthority.load(or: options.root)
                let registry = try SQLiteCertificateRegistry(
                    path: SecureFile.join(options.dir, SQLiteCertificateRegistry.fileName))
                let service = try await ServiceCertificate.issue(
                    name: name, root: root, recordingIn: registry, validityDays: validityDays)
                try service.write(name: name, to: out)
                Terminal.line(
                    "Issued \(name)'s certificate, serial \(service.certificate.serialNumber.hex): "
                        + "\(ServiceCertificate.keyPath(name: name, in: out)) (0600), "
                        + "\(ServiceCertificate.certificatePath(name: name, in: out))")
            } catch {
                Terminal.error("cuhk service issue: \(error)")
                throw ExitCode(2)
            }
        }
    }
}

struct AdminTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-token",
        abstract: "Print the web interface's login token (making it if missing), or replace it with --rotate.",
        discussion: """
            The token is in cuhk-admin-token (0600) in --dir; whoever knows it can log in to the web interface. `cuhk \
            serve` prints a login URL with it.
            """
    )

    @Option(help: "Directory of cuhk.db and cuhk-admin-token.")
    var dir: String = "."

    @Flag(help: "Replace the token with a new one.")
    var rotate = false

    func run() async throws {
        try AdminTokenTool.run(program: "cuhk", server: "CUHK", directory: dir, rotate: rotate)
    }
}
