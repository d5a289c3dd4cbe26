import ArgumentParser
import CampusAdmin
import CampusAuthority
import CampusCommandLine
import CampusPKI
import CampusStorage
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
            Serve.self, Init.self, Issued.self, Revoke.self, Roster.self, Codes.self, Throttle.self, Service.self,
            AdminTokenCommand.self,
        ],
        defaultSubcommand: Serve.self
    )

    static func main() async {
        AllocatorTuning.apply()
        SubcommandSuggestion.check(self, arguments: Array(CommandLine.arguments.dropFirst()))
        DefaultSubcommandHelp.check(self, arguments: Array(CommandLine.arguments.dropFirst()))
        await main(nil)
    }
}

struct RootOptions: ParsableArguments {
    @Option(help: "Directory of cuhk.key, cuhk.cer and cuhk.db.")
    var dir: String = "."

    @OptionGroup var database: DatabaseOptions

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
    crashPoint(RootAuthority.CreationStep.self)
}

/// The same for the steps of issuing Blackboard's certificate beside the root.
func serviceCrashPointFromEnvironment() -> (ServiceCertificateBesideRoot.Step) -> Void {
    crashPoint(ServiceCertificateBesideRoot.Step.self)
}

func crashPoint<Step: RawRepresentable & Equatable>(_: Step.Type) -> (Step) -> Void where Step.RawValue == String {
    guard let name = ProcessInfo.processInfo.environment["CAMPUSPKI_CRASH_AT"], let target = Step(rawValue: name)
    else { return { _ in } }
    return { step in if step == target { kill(getpid(), SIGKILL) } }
}

/// The responder URL for Blackboard's certificate when no CUHK is running to tell it: `--public-url`, else the one
/// `cuhk serve` last recorded in its store, else what `cuhk serve`'s defaults give.
func responderURL(given: String?, registry: any AuthorityStore) async throws -> String {
    if let given { return given }
    return try await registry.setting(OCSPResponder.urlSetting) ?? "http://127.0.0.1:\(OCSPResponder.defaultPort)/"
}

/// `--public-url`, as `cuhk init` and `cuhk service issue` take it.
struct PublicURLOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The base URL of CUHK's HTTP port (its OCSP responder), written in Blackboard's certificate.",
            discussion:
                "Default: the URL cuhk serve last used (recorded in cuhk.db), else http://127.0.0.1:9336/, what cuhk "
                + "serve's defaults give."))
    var publicURL: String?

    func validate() throws {
        if let publicURL {
            do {
                try PublicAddress.check(url: publicURL, option: "--public-url")
            } catch {
                throw ValidationError(error.description)
            }
        }
    }
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

    @Option(
        help: ArgumentHelp(
            "Most connections one address (an IPv6 /64) may have at once; 0: no limit.",
            discussion: "A further one is refused (server-busy) until one of them ends. Behind a load balancer, the "
                + "address is the one its PROXY header names (--proxy-protocol-from); without it every student has "
                + "the balancer's."))
    var maxConnectionsPerAddress: Int = CUHKServer.defaultConnectionsPerAddress

    @Option(help: "Seconds that enrollments in flight may go on after SIGINT or SIGTERM; a second signal ends them.")
    var shutdownGrace: Int = ConnectionLimit.defaultShutdownGraceSeconds

    @Flag(help: "The seed's way, for teaching: anyone may enroll any 10-digit SID, with no roster and no code.")
    var openEnrollment = false

    @Option(
        help: ArgumentHelp(
            "Wrong enrollment codes a network address may send before it is throttled.",
            discussion: "It regains one a minute. Right codes are never refused, so no student can be locked out."))
    var throttleAttempts: Int = EnrollmentThrottle.Configuration().attempts

    @Option(help: "How long an address that used up its wrong codes stays throttled (30s, 15m, 2h).")
    var throttleDuration: DurationArgument = DurationArgument(
        argument: "\(Int(EnrollmentThrottle.Configuration().duration / 60))m")!

    @Flag(help: "Show each enrollment's public values (key shares, fingerprints, the transcript hash).")
    var explain = false

    @Option(
        help: ArgumentHelp(
            "Port of the OCSP responder (HTTP) on --host; 0 picks a free port.",
            discussion: "Default: \(OCSPResponder.defaultPort), or 0 (a free port) when --port is 0."))
    var ocspPort: Int?

    @Option(
        help: ArgumentHelp(
            "The base URL by which students and Blackboard reach CUHK's HTTP port (http://NAME:PORT/).",
            discussion:
                "It is the OCSP responder's URL in every certificate, and its host is CUHK's address on the code "
                + "slips. Default: http://HOST:OCSPPORT/ with --host; when --host is a wildcard (0.0.0.0, ::), this "
                + "machine's host name if it resolves, else cuhk refuses to start: no certificate ever names an "
                + "address clients cannot reach."))
    var publicURL: String?

    @Option(help: "The responder URL written in certificates, when it differs from --public-url (a proxy's path).")
    var ocspURL: String?

    @Option(help: "Blackboard's address as students reach it (HOST:PORT), for the code slips; kept in cuhk.db.")
    var blackboardAddress: String?

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

    @OptionGroup(title: "HTTP ports (OCSP responder, web interface)") var http: HTTPLimitOptions

    @OptionGroup var proxyProtocol: ProxyProtocolOption

    @Flag(
        help: ArgumentHelp(
            "Do not issue Blackboard's certificate beside a new root.",
            discussion:
                "By default, when cuhk creates its root it also writes blackboard.key (0600) and blackboard.cer "
                + "into --dir, where a Blackboard run in the same directory finds them."))
    var noBlackboardCertificate = false

    func validate() throws {
        try ArgumentChecks.listeningPort(port)
        try ArgumentChecks.listeningPort(resolvedOCSPPort, option: "--ocsp-port")
        if resolvedOCSPPort != 0, resolvedOCSPPort == port {
            throw ValidationError("--ocsp-port must differ from --port")
        }
        if let adminPort = resolvedAdminPort {
            try ArgumentChecks.listeningPort(adminPort, option: "--admin-port")
            if adminPort != 0, adminHost == host, [port, resolvedOCSPPort].contains(adminPort) {
                throw ValidationError("--admin-port must differ from --port and --ocsp-port")
            }
        }
        do {
            if let publicURL { try PublicAddress.check(url: publicURL, option: "--public-url") }
            if let ocspURL { try PublicAddress.check(url: ocspURL, option: "--ocsp-url") }
        } catch {
            throw ValidationError(error.description)
        }
        if let blackboardAddress {
            _ = try ArgumentChecks.serverAddress(blackboardAddress, option: "--blackboard-address")
        }
        guard validityDays > 0 else { throw ValidationError("--validity-days must be positive") }
        guard minKeySize >= 2048 else { throw ValidationError("--min-key-size must be at least 2048") }
        guard timeout > 0, maxFrameSize > 0, maxConnections ?? 1 > 0 else {
            throw ValidationError("--timeout, --max-frame-size and --max-connections must be positive")
        }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be 0 or more") }
        guard maxConnectionsPerAddress >= 0 else {
            throw ValidationError("--max-connections-per-address must be 0 (no limit) or more")
        }
        guard throttleAttempts > 0 else { throw ValidationError("--throttle-attempts must be positive") }
    }

    /// `--admin-port`, or its default: 0 with `--port 0`, else ``CUHKServer/defaultAdminPort``.
    var resolvedAdminPort: Int? {
        noAdmin ? nil : adminPort ?? (port == 0 ? 0 : CUHKServer.defaultAdminPort)
    }

    /// `--ocsp-port`, or its default: 0 with `--port 0`, so that servers started on free ports do not collide on
    /// 9336; else ``OCSPResponder/defaultPort``.
    var resolvedOCSPPort: Int {
        ocspPort ?? (port == 0 ? 0 : OCSPResponder.defaultPort)
    }

    var enrollment: EnrollmentPolicy {
        openEnrollment
            ? .open : .roster(.init(attempts: throttleAttempts, duration: throttleDuration.seconds))
    }

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: options.logLevel)
        let logger = Logger(label: "cuhk")
        var configuration = CUHKServer.Configuration(
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
            ocspPort: resolvedOCSPPort,
            ocspURL: ocspURL,
            ocspValidity: ocspValidity.seconds,
            adminPort: resolvedAdminPort,
            adminHost: adminHost,
            httpLimits: http.limits,
            publicURL: publicURL,
            blackboardAddress: blackboardAddress,
            issuesBlackboardCertificate: !noBlackboardCertificate,
            explain: explain
        )
        configuration.proxyProtocolPeers = try proxyProtocol.peers
        configuration.maximumConnectionsPerAddress = maxConnectionsPerAddress
        // The port first: a port that is taken must not leave a new root behind.
        let listener = try await ServerLauncher.bind(program: "cuhk", host: host, port: port) {
            try await CUHKServer.listen(configuration: configuration, logger: logger)
        }
        if resolvedOCSPPort != 0 {
            try await ServerLauncher.bind(program: "cuhk", host: host, port: resolvedOCSPPort, option: "--ocsp-port") {
                try await CUHKServer.checkPortIsFree(host: host, port: resolvedOCSPPort)
            }
        }
        if let adminPort = resolvedAdminPort, adminPort != 0 {
            try await ServerLauncher.bind(
                program: "cuhk", host: adminHost, port: adminPort, option: "--admin-port", hostOption: "--admin-host"
            ) {
                try await CUHKServer.checkPortIsFree(host: adminHost, port: adminPort)
            }
        }
        let location = try StorageCommand.location(directory: options.dir, options.database, program: "cuhk")
        var shared = configuration
        // On a shared database the root is made once, by cuhk init; an instance never makes another.
        shared.createsRoot = !location.isShared
        let crash = crashPointFromEnvironment()
        try await ServerLauncher.withStorage(program: "cuhk", logger: logger) {
            if !location.isShared { try StorageCommand.createDirectory(options.dir, program: "cuhk") }
            try await StoreOpener.withAuthorityStore(at: location, logger: logger) { store in
                let server = try await ServerLauncher.start(program: "cuhk", logger: logger) {
                    try await CUHKServer(
                        configuration: shared, store: store, listener: listener, logger: logger,
                        reporter: Terminal.reporter(), checkpoint: crash)
                }
                try await Self.serve(server, host: host, logger: logger)
            }
        }
    }

    static func serve(_ server: CUHKServer, host: String, logger: Logger) async throws {
        if server.publicAddress.isDerivedFromHostName {
            Terminal.line(
                "Certificates name this machine as \(server.publicAddress.host) (its host name, as --host "
                    + "\(host) listens on every address); give --public-url if clients reach it by another name")
        }
        do {
            try await ServiceRunner.run(server, logger: logger) { _ in
                // Scripts and tests find the responder's port in this line, as they find CUHK's in `listening on`.
                if let address = server.ocspAddress { Terminal.line("ocsp listening on \(address.hostAndPort)") }
                if let url = server.authority.configuration.ocspURL {
                    Terminal.line("certificates name the OCSP responder \(url)")
                }
                if let admin = server.admin, let address = admin.bound.current {
                    Terminal.line("dashboard at \(AdminServer.url(address))")
                    Terminal.line("login at \(admin.loginURL(address))")
                }
            }
        } catch let error as CampusError where error.code == .issuanceFailed {
            Terminal.error("cuhk: \(error.reason): \(error.detail ?? "")")
            throw ExitCode(2)
        }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create (or check) the root key and certificate, and Blackboard's certificate beside it, then exit.",
        discussion: """
            Like cuhk serve, it issues Blackboard's certificate (blackboard.key, 0600, and blackboard.cer in --dir) \
            when no certificate for blackboard is recorded in cuhk.db and neither file exists, and finishes an \
            issuing that a crash interrupted.
            """)

    @OptionGroup var options: RootOptions

    @OptionGroup var address: PublicURLOption

    @Flag(help: "Do not issue Blackboard's certificate beside the root.")
    var noBlackboardCertificate = false

    func run() async throws {
        ServiceRunner.bootstrapLogging(level: options.logLevel)
        let logger = Logger(label: "cuhk")
        let location = try StorageCommand.location(directory: options.dir, options.database, program: "cuhk init")
        do {
            let (root, origin) = try RootAuthority.load(or: options.root, checkpoint: crashPointFromEnvironment())
            let verb = origin == .created ? "created" : "already present"
            Terminal.line(
                "[Step 0] Root \(verb): \(root.certificate.subject), serial \(root.certificate.serialNumber.hex)")
            Terminal.line("[Step 0] Root SHA-256 fingerprint \(root.certificate.sha256Fingerprint)")
            // On a shared database the instances start from copies of this directory: the timestamp authority's key
            // and certificate are made here once, as the root is, rather than by each instance.
            guard !noBlackboardCertificate || location.isShared else { return }
            try await ServerLauncher.withStorage(program: "cuhk init", logger: logger) {
                try await StoreOpener.withAuthorityStore(at: location, logger: logger) { registry in
                    if location.isShared { try await issueTimestampAuthority(root: root, registry: registry) }
                    guard !noBlackboardCertificate else { return }
                    try await issueBlackboardCertificate(root: root, registry: registry, logger: logger)
                }
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            Terminal.error("cuhk init: \(error)")
            throw ExitCode(2)
        }
    }

    func issueTimestampAuthority(root: RootAuthority, registry: any AuthorityStore) async throws {
        let (_, origin) = try await TimestampAuthorityCertificate.loadOrIssue(
            .init(directory: options.dir, allowInsecureKeyPermissions: options.allowInsecureKeyPermissions),
            root: root, registry: registry)
        if origin == .issued {
            Terminal.line(
                "[Step 0] Timestamp authority certificate issued: \(options.dir)/"
                    + "\(TimestampAuthorityCertificate.keyFileName) (0600), "
                    + TimestampAuthorityCertificate.certificateFileName)
        }
    }

    func issueBlackboardCertificate(root: RootAuthority, registry: any AuthorityStore, logger: Logger) async throws {
        let outcome = try await ServiceCertificateBesideRoot.ensure(
            name: CUHKServer.blackboardName, in: options.dir, root: root, registry: registry,
            ocspURL: try await responderURL(given: address.publicURL, registry: registry),
            checkpoint: serviceCrashPointFromEnvironment())
        CUHKServer.report(
            outcome, name: CUHKServer.blackboardName, directory: options.dir, reporter: Terminal.reporter(),
            logger: logger)
        if case .recordedElsewhere(let serial) = outcome {
            Terminal.line(
                "[Step 0] Blackboard's certificate (serial \(serial)) is recorded but its files are not in "
                    + "\(options.dir): issued elsewhere with cuhk service issue --out, or moved; none issued here")
        }
    }
}

struct Issued: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the certificates CUHK has issued.")

    @Option(help: "Directory of cuhk.db.")
    var dir: String = "."

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Only this student's certificates.")
    var sid: String?

    @Flag(help: "Print JSON (a stable format, see README) instead of a table.")
    var json = false

    func validate() throws {
        if let sid { _ = try ArgumentChecks.studentID(sid) }
    }

    func run() async throws {
        let studentID = sid.flatMap(StudentID.init)
        try await RegistryFile.with(in: dir, database: database, by: "cuhk issued", writing: false) { registry in
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
    /// `open-enrollment`, `enrollment-code`, `renewal:<serial>` or `unknown`.
    var authorization: String
    /// Whether it traces back to an enrollment code (only such certificates count as enrolled under a roster).
    var rosterAuthorized: Bool

    init(_ certificate: IssuedCertificate) {
        serial = certificate.serial
        sid = certificate.studentID.rawValue
        notBefore = JSONOutput.timestamp(certificate.notValidBefore)
        notAfter = JSONOutput.timestamp(certificate.notValidAfter)
        issuedAt = JSONOutput.timestamp(certificate.issuedAt)
        status = certificate.revocation == nil ? certificate.status() : "revoked"
        revokedAt = certificate.revocation.map { JSONOutput.timestamp($0.time) }
        revocationReason = certificate.revocation?.reason.rawValue
        authorization = certificate.authorization.stored
        rosterAuthorized = certificate.isRosterAuthorized
    }
}

extension RevocationReason: ExpressibleByArgument {}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a certificate (a lost laptop, a student who left), durably.",
        discussion: """
            Give --sid to revoke every certificate of a student that is not revoked yet, --serial for one, or \
            --open-enrollment for every certificate that no enrollment code paid for (taken while enrollment was open, \
            or issued before CUHK recorded how, and their renewals). Blackboard's certificate: cuhk service revoke.
            """
    )

    @Option(help: "Directory of cuhk.db.")
    var dir: String = "."

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Revoke every certificate of this student.")
    var sid: String?

    @Option(help: "Revoke the certificate with this serial number (hex, as `cuhk issued` lists it).")
    var serial: String?

    @Flag(help: "Revoke every certificate that does not trace back to an enrollment code.")
    var openEnrollment = false

    @Option(help: "Why; recorded with the revocation.")
    var reason: RevocationReason = .cessationOfOperation

    func validate() throws {
        guard [sid != nil, serial != nil, openEnrollment].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of --sid, --serial and --open-enrollment")
        }
        if let sid { _ = try ArgumentChecks.studentID(sid) }
    }

    func run() async throws {
        try await RegistryFile.with(in: dir, database: database, by: "cuhk revoke", writing: true) { registry in
            let revoked: [IssuedCertificate]
            do {
                if let serial {
                    revoked = [try await registry.revoke(serial: serial, reason: reason, at: Date())]
                } else if let sid {
                    revoked = try await registry.revokeAll(of: StudentID(sid)!, reason: reason, at: Date())
                } else {
                    revoked = try await registry.revokeAllNotFromRoster(reason: reason, at: Date())
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
                "In effect now in \(registry.location.hasSuffix(".db") ? "cuhk.db" : "the database"): every running "
                    + "cuhk on it says so at once in its OCSP answers and its revocation list "
                    + "(GET /crl on the OCSP port); Blackboard fetches that list every "
                    + "\(RevocationListDefaults.pollIntervalSeconds) s by default (blackboard serve --crl-interval), so "
                    + "within seconds it refuses new sessions of the certificate and ends the open ones")
        }
    }
}

/// Opens CUHK's store (`cuhk.db`, or the database `--database` names) for the listing and managing commands.
enum RegistryFile {
    /// Runs `body` with the store; a database that cannot be opened or reached is a plain message and exit status 2.
    ///
    /// - Parameters:
    ///   - creating: Create `cuhk.db` if it does not exist (importing a roster before CUHK's first start).
    static func with<T>(
        in directory: String, database: DatabaseOptions, by program: String, writing: Bool, creating: Bool = false,
        _ body: (any AuthorityStore) async throws -> T
    ) async throws -> T {
        let location = try StorageCommand.location(directory: directory, database, program: program)
        if !creating, !StorageCommand.exists(StoreOpener.authorityFileName, at: location) {
            Terminal.error(
                "\(program): \(SecureFile.join(directory, StoreOpener.authorityFileName)) does not exist; cuhk init, "
                    + "cuhk serve or cuhk roster import creates it (or give --dir, the directory where CUHK runs, or "
                    + "--database)")
            throw ExitCode(2)
        }
        if creating, !location.isShared { try StorageCommand.createDirectory(directory, program: program) }
        let logger = Logger(label: "cuhk")
        return try await ServerLauncher.withStorage(program: program, logger: logger) {
            try await StoreOpener.withAuthorityStore(
                at: location, options: .init(checkWrites: writing), logger: logger, body)
        }
    }
}

struct Service: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Certificates for services.",
        subcommands: [Issue.self, Revoke.self]
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

        @OptionGroup var address: PublicURLOption

        func validate() throws {
            guard ServiceCertificate.isValidName(name) else {
                throw ValidationError("--name \"\(ControlCharacters.escaped(name))\" is not a DNS name")
            }
            guard name.lowercased() != EnrollmentChannel.authorityName else {
                throw ValidationError(
                    "--name \(name) is the name of CUHK's own enrollment certificate, which CUHK issues to itself")
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
            let location = try StorageCommand.location(
                directory: options.dir, options.database, program: "cuhk service issue")
            let logger = Logger(label: "cuhk")
            do {
                let (root, _) = try RootAuthority.load(or: options.root)
                try await ServerLauncher.withStorage(program: "cuhk service issue", logger: logger) {
                    try await StoreOpener.withAuthorityStore(at: location, logger: logger) { registry in
                        let service = try await ServiceCertificate.issue(
                            name: name, root: root, recordingIn: registry, validityDays: validityDays,
                            ocspURL: try await responderURL(given: address.publicURL, registry: registry))
                        try service.write(name: name, to: out)
                        Terminal.line(
                            "Issued \(name)'s certificate, serial \(service.certificate.serialNumber.hex): "
                                + "\(ServiceCertificate.keyPath(name: name, in: out)) (0600), "
                                + "\(ServiceCertificate.certificatePath(name: name, in: out))")
                    }
                }
            } catch let error as ExitCode {
                throw error
            } catch {
                Terminal.error("cuhk service issue: \(error)")
                throw ExitCode(2)
            }
        }
    }
}

extension Service {
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a service's certificate (a stolen blackboard.key), durably; OCSP answers revoked.",
            discussion: """
                Give --serial for one certificate, or --name for every certificate of that service not revoked yet \
                (default: blackboard). CUHK's OCSP responder answers revoked at once, so student verify-receipt \
                refuses the receipts signed with it, whenever it can reach CUHK. Issue a new certificate with cuhk \
                service issue (move the old files away first).
                """)

        @Option(help: "Directory of cuhk.db.")
        var dir: String = "."

        @OptionGroup var database: DatabaseOptions

        @Option(help: "The service's name: revoke all its certificates not revoked yet.")
        var name: String?

        @Option(help: "Revoke the certificate with this serial number (hex, as the web interface lists it).")
        var serial: String?

        @Option(help: "Why; recorded with the revocation.")
        var reason: RevocationReason = .keyCompromise

        func validate() throws {
            guard name == nil || serial == nil else { throw ValidationError("give --name or --serial, not both") }
            if let name, !ServiceCertificate.isValidName(name) {
                throw ValidationError("--name \"\(ControlCharacters.escaped(name))\" is not a DNS name")
            }
        }

        func run() async throws {
            try await RegistryFile.with(in: dir, database: database, by: "cuhk service revoke", writing: true) {
                registry in
                let revoked: [ServiceCertificateRecord]
                do {
                    revoked = try await registry.revokeServiceCertificates(
                        serial: serial, name: serial == nil ? name ?? CUHKServer.blackboardName : nil, reason: reason,
                        at: Date())
                } catch let error as RegistryError {
                    Terminal.error("cuhk service revoke: \(error)")
                    throw ExitCode(1)
                }
                guard !revoked.isEmpty else {
                    Terminal.error(
                        "cuhk service revoke: no certificate of \(name ?? CUHKServer.blackboardName) is left to revoke")
                    throw ExitCode(1)
                }
                for certificate in revoked {
                    Terminal.line(
                        "Revoked \(certificate.name)'s certificate \(certificate.serial), reason \(reason.rawValue)")
                }
                Terminal.line(
                    Count.of(revoked.count, "certificate")
                        + " revoked; CUHK's OCSP responder answers revoked from now on")
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

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Replace the token with a new one, and end every session logged in with the old one.")
    var rotate = false

    func run() async throws {
        let location = try StorageCommand.location(directory: dir, database, program: "cuhk admin-token")
        let hasStore = StorageCommand.exists(StoreOpener.authorityFileName, at: location)
        try await AdminTokenTool.run(
            program: "cuhk", server: "CUHK", directory: dir, rotate: rotate,
            endSessions: rotate && hasStore
                ? {
                    try await RegistryFile.with(in: dir, database: database, by: "cuhk admin-token", writing: true) {
                        try await $0.removeAllAdminSessions()
                    }
                } : nil)
    }
}
