import CampusAdmin
import CampusPKI
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import _CryptoExtras

/// CUHK as a running service: the root (step 0), the registry, the enrollment server (step 2), the OCSP
/// responder and the web interface, each on its own port.
///
/// The `cuhk` executable, the demo and the tests all start CUHK through this type.
public final class CUHKServer: FramedService, Sendable {
    /// Everything `cuhk serve` can be told.
    public struct Configuration: Sendable {
        /// The directory of `cuhk.key`, `cuhk.cer` and `cuhk.db`.
        public var directory: String
        /// RSA key size for a new root.
        public var rootKeySize: Int
        /// Load `cuhk.key` even if others may read it.
        public var allowInsecureKeyPermissions: Bool
        public var host: String
        /// 9335 as in the seed; 0 picks a free port.
        public var port: Int
        public var issuing: CertificateAuthority.Configuration
        /// Who may enroll: the roster's students with their codes (the default), or anyone (`--open-enrollment`).
        public var enrollment: EnrollmentPolicy
        /// The largest request frame accepted.
        public var maximumFrameSize: Int
        /// How long a client may stay silent.
        public var timeout: TimeAmount
        public var maximumConnections: Int
        /// How long connections in flight may go on after a graceful shutdown begins.
        public var shutdownGrace: TimeAmount
        /// The OCSP responder's port on ``host`` (0 picks a free port); `nil` runs no responder, and certificates
        /// then carry no responder URL.
        public var ocspPort: Int?
        /// The responder's URL written in certificates; `http://HOST:OCSPPORT/` from ``host`` and the bound port
        /// when `nil`.
        public var ocspURL: String?
        /// How long an OCSP response may be relied on.
        public var ocspValidity: TimeInterval
        /// The web interface's port on ``adminHost`` (0 picks a free port); `nil` runs no web interface.
        /// `cuhk serve` uses ``CUHKServer/defaultAdminPort``.
        public var adminPort: Int?
        /// Where the web interface listens: loopback unless told otherwise.
        public var adminHost: String
        /// Show each enrollment's public values (key shares, fingerprints, the transcript hash) under its lines.
        public var explain: Bool

        public init(
            directory: String = ".",
            rootKeySize: Int = 2048,
            allowInsecureKeyPermissions: Bool = false,
            host: String = "127.0.0.1",
            port: Int = 9335,
            issuing: CertificateAuthority.Configuration = .init(),
            enrollment: EnrollmentPolicy = .standard,
            maximumFrameSize: Int = 64 * 1024,
            timeout: TimeAmount = .seconds(10),
            maximumConnections: Int = CUHKServer.defaultMaximumConnections,
            shutdownGrace: TimeAmount = .seconds(Int64(ConnectionLimit.defaultShutdownGraceSeconds)),
            ocspPort: Int? = OCSPResponder.defaultPort,
            ocspURL: String? = nil,
            ocspValidity: TimeInterval = OCSPResponder.defaultValiditySeconds,
            adminPort: Int? = nil,
            adminHost: String = "127.0.0.1",
            explain: Bool = false
        ) {
            self.directory = directory
            self.rootKeySize = rootKeySize
            self.allowInsecureKeyPermissions = allowInsecureKeyPermissions
            self.host = host
            self.port = port
            self.issuing = issuing
            self.enrollment = enrollment
            self.maximumFrameSize = maximumFrameSize
            self.timeout = timeout
            self.maximumConnections = maximumConnections
            self.shutdownGrace = shutdownGrace
            self.ocspPort = ocspPort
            self.ocspURL = ocspURL
            self.ocspValidity = ocspValidity
            self.adminPort = adminPort
            self.adminHost = adminHost
            self.explain = explain
        }

        /// The listener's part of the configuration.
        var framing: FramedServer.Configuration {
            .init(
                host: host,
                port: port,
                maximumFrameSize: maximumFrameSize,
                timeout: timeout,
                maximumConnections: maximumConnections,
                shutdownGrace: shutdownGrace
            )
        }
    }

    /// The most connections CUHK serves at once by default; enrollments are short.
    public static let defaultMaximumConnections = 1024
    /// 9337, after the OCSP responder's 9336: `cuhk serve --admin-port`'s default.
    public static let defaultAdminPort = 9337

    /// The issuing authority, with the OCSP responder's URL once it is known.
    public var authority: CertificateAuthority {
        Self.authority(baseAuthority, ocsp: ocsp, host: host, boundAt: ocsp?.bound.current)
    }
    private let baseAuthority: CertificateAuthority
    /// Whether step 0 loaded the root or created it.
    public let rootOrigin: RootAuthority.Origin
    private let server: FramedServer
    private let ocsp: OCSPHTTPServer?
    /// The web interface (the dashboard, `/metrics`, `/healthz`, `/readyz`), unless configured without one.
    public let admin: AdminServer?
    /// CUHK's metrics, shown at the web interface's `/metrics`; fed by ``AuthorityMetrics``.
    public let metrics: ServerMetrics
    /// The enrollment server's address once bound, for the code slips.
    private let enrollmentBound: BoundAddress
    private let host: String
    private let directory: String
    /// CUHK's own enrollment certificate, issued to itself from the root.
    public let identity: AuthorityIdentity
    /// Where step 0's explained values go with `--explain`.
    private let explainReporter: StepReporter?

    /// What CUHK's clients send first, named in a timeout.
    static let firstExpected = "an enrollment hello"

    /// Binds CUHK's port. `cuhk serve` does this before step 0, so a port that is taken leaves no new root behind.
    public static func listen(configuration: Configuration, logger: Logger) async throws -> FramedServer.Listener {
        try await FramedServer.listen(
            configuration: configuration.framing, firstExpected: firstExpected, logger: logger)
    }

    /// Loads or creates the root, opens the registry and prepares the listener.
    ///
    /// - Parameters:
    ///   - configuration: Directory, address, limits.
    ///   - listener: The port, bound already with ``listen(configuration:logger:)``; when `nil`, ``run()`` binds it.
    ///   - logger: Operational log; never receives keys.
    ///   - reporter: Receives the lines to show in the terminal, by seed step.
    ///   - checkpoint: Called after each step of a new root's creation (crash tests stop there).
    /// - Throws: ``RootAuthority/LoadError``, ``FileError`` or ``DurableDatabase/OpenError``.
    public init(
        configuration: Configuration,
        listener: FramedServer.Listener? = nil,
        logger: Logger,
        reporter: @escaping StepReporter = { _, _ in },
        checkpoint: (RootAuthority.CreationStep) throws -> Void = { _ in }
    ) throws {
        let (root, origin) = try RootAuthority.load(
            or: .init(
                directory: configuration.directory, keySize: configuration.rootKeySize,
                allowInsecureKeyPermissions: configuration.allowInsecureKeyPermissions),
            checkpoint: checkpoint
        )
        let registry = try SQLiteCertificateRegistry(
            path: SecureFile.join(configuration.directory, SQLiteCertificateRegistry.fileName)
        )
        let metrics = ServerMetrics()
        let events = AuthorityMetrics(metrics: metrics).sink
        var issuing = configuration.issuing
        issuing.ocspURL = configuration.ocspURL ?? issuing.ocspURL
        var throttle: EnrollmentThrottle?
        if case .roster(let budget) = configuration.enrollment {
            throttle = EnrollmentThrottle(configuration: budget, records: registry)
        }
        let authority = CertificateAuthority(
            root: root, registry: registry, configuration: issuing,
            enrollment: configuration.enrollment, roster: registry, throttle: throttle, events: events)
        let identity = AuthorityIdentity(root: root, registry: registry)
        self.identity = identity
        self.metrics = metrics
        self.baseAuthority = authority
        self.rootOrigin = origin
        self.host = configuration.host
        self.directory = configuration.directory
        let ocsp = configuration.ocspPort.map { port in
            OCSPHTTPServer(
                configuration: .init(host: configuration.host, port: port),
                responder: OCSPResponder(
                    root: root, registry: registry, configuration: .init(validity: configuration.ocspValidity),
                    events: events),
                logger: logger)
        }
        self.ocsp = ocsp
        let host = configuration.host
        let enrollmentBound = BoundAddress()
        self.enrollmentBound = enrollmentBound
        self.admin = try configuration.adminPort.map { port in
            let dashboard = CUHKDashboard(
                registry: registry, root: root, directory: configuration.directory,
                enrollmentAddress: {
                    Self.studentFacing(host: host, port: enrollmentBound.current?.port ?? configuration.port)
                }, throttle: throttle?.configuration ?? EnrollmentThrottle.Configuration())
            return try AdminServer(
                configuration: .init(
                    host: configuration.adminHost, port: port,
                    tokenPath: SecureFile.join(configuration.directory, AdminToken.fileName(for: "cuhk"))),
                pages: try dashboard.pages(), metrics: metrics, logger: logger,
                readiness: { await dashboard.readiness() }, routes: { dashboard.routes($0, $1) })
        }
        let fingerprint = root.certificate.sha256Fingerprint
        switch origin {
        case .created:
            reporter(.root, "Root key and certificate generated: \(configuration.directory)/cuhk.key (0600), cuhk.cer")
        case .loaded:
            reporter(.root, "Root loaded from \(configuration.directory)/cuhk.cer (\(root.certificate.subject))")
        }
        reporter(.root, "Root SHA-256 fingerprint \(fingerprint)")
        if configuration.explain {
            let bits = _RSA.Signing.PublicKey(root.certificate.publicKey)?.keySizeInBits ?? 0
            reporter(
                .root,
                "    · root serial \(root.certificate.serialNumber.hex), RSA \(bits) bits, valid until "
                    + "\(root.certificate.notValidAfter.formatted(.iso8601)); students pin it, or check this "
                    + "fingerprint with --root-fingerprint")
        }
        self.explainReporter = configuration.explain ? reporter : nil
        try registry.recordEnrollmentPolicy(configuration.enrollment)
        switch configuration.enrollment {
        case .open:
            reporter(.request, "WARNING: open enrollment: anyone may get a certificate for any 10-digit SID")
            logger.warning("open enrollment: anyone may enroll any SID (--open-enrollment)")
        case .roster:
            if try registry.rosterCount() == 0 {
                reporter(
                    .request,
                    "The roster is empty, so nobody can enroll yet: import one with `cuhk roster import FILE.csv` "
                        + "(header sid,name), then `cuhk codes issue --all-unenrolled` and hand out the codes")
            }
        }
        let observer = EnrollmentObserver(side: .authority, explain: configuration.explain, reporter: reporter)
        self.server = FramedServer(
            configuration: configuration.framing,
            firstExpected: Self.firstExpected,
            logger: logger,
            listener: listener
        ) { frames, logger in
            // A certificate names the responder's URL, so issuing waits until its port is known.
            let issuing = try await Self.authority(
                authority, ocsp: ocsp, host: host, boundAt: ocsp?.bound.value())
            try await EnrollmentHandler(authority: issuing, identity: identity, observer: observer)
                .serve(frames, logger: logger)
        }
    }

    /// The name of Blackboard's certificate CUHK issues beside a new root.
    public static let blackboardName = "blackboard"

    /// With a root it has just created, CUHK also issues Blackboard's certificate into its own directory
    /// (`blackboard.key`, 0600, and `blackboard.cer`), as it writes `cuhk.cer` there: in the seed's single directory,
    /// Blackboard finds both. Nothing happens when the root was loaded or either file exists.
    ///
    /// - Returns: The certificate, when one was issued.
    @discardableResult
    public func issueBlackboardCertificateBesideNewRoot(reporter: StepReporter = { _, _ in }) async throws
        -> ServiceCertificate?
    {
        let name = Self.blackboardName
        guard rootOrigin == .created,
            !SecureFile.exists(ServiceCertificate.keyPath(name: name, in: directory)),
            !SecureFile.exists(ServiceCertificate.certificatePath(name: name, in: directory)),
            let registry = baseAuthority.registry as? SQLiteCertificateRegistry
        else { return nil }
        let service = try await ServiceCertificate.issue(name: name, root: baseAuthority.root, recordingIn: registry)
        try service.write(name: name, to: directory)
        reporter(
            .root,
            "Blackboard's certificate issued for \(name): \(ServiceCertificate.keyPath(name: name, in: directory)) "
                + "(0600), \(ServiceCertificate.certificatePath(name: name, in: directory))")
        return service
    }

    /// `authority` with the responder's URL: the configured one, or `http://HOST:PORT/` once the port is bound.
    static func authority(
        _ authority: CertificateAuthority, ocsp: OCSPHTTPServer?, host: String, boundAt address: SocketAddress?
    ) -> CertificateAuthority {
        guard authority.configuration.ocspURL == nil, ocsp != nil, let port = address?.port else { return authority }
        var authority = authority
        authority.configuration.ocspURL = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/"
        return authority
    }

    /// `HOST:PORT` as students give it to `student --ca`: the machine's name when CUHK listens on every address.
    static func studentFacing(host: String, port: Int) -> String {
        let name = ["0.0.0.0", "::", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
        return name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)"
    }

    /// The enrollment server's bound address, once it, the OCSP responder and the web interface all listen.
    public func listeningAddress() async throws -> SocketAddress {
        _ = try await ocsp?.bound.value()
        _ = try await admin?.bound.value()
        return try await server.listeningAddress()
    }

    /// The web interface's bound address, once it listens; `admin.loginURL(address)` is the URL that logs in.
    ///
    /// - Throws: Its bind error, or ``CampusError`` when CUHK runs no web interface.
    public func adminAddress() async throws -> SocketAddress {
        guard let admin else { throw CampusError(.internalError, "CUHK runs no web interface") }
        return try await admin.bound.value()
    }

    /// Binds `host:port` and lets it go again, so that `cuhk serve` learns that a port is taken before step 0 (the
    /// OCSP responder and the web interface bind only when they run).
    ///
    /// - Throws: The system's bind error.
    public static func checkPortIsFree(host: String, port: Int) async throws {
        try await HTTPServing.checkPortIsFree(host: host, port: port)
    }

    /// The OCSP responder's bound address, once it listens; `nil` if it does not (yet).
    public var ocspAddress: SocketAddress? { ocsp?.bound.current }

    /// The OCSP responder's bound address, once it listens.
    ///
    /// - Throws: Its bind error, or ``CampusError`` when CUHK runs no responder.
    public func ocspListeningAddress() async throws -> SocketAddress {
        guard let ocsp else { throw CampusError(.internalError, "CUHK runs no OCSP responder") }
        return try await ocsp.bound.value()
    }

    /// Serves enrollments, OCSP requests and the web interface until cancelled or gracefully shut down (the
    /// responder's and the web interface's service groups hear the same graceful shutdown, through the task's
    /// shutdown handler).
    public func run() async throws {
        // All in child tasks: when one fails (a port is taken), the group cancels the others.
        try await withThrowingDiscardingTaskGroup { group in
            if let ocsp { group.addTask { try await ocsp.run() } }
            if let admin { group.addTask { try await admin.run() } }
            group.addTask { try await self.server.run() }
            let identity = identity
            group.addTask {
                // CUHK's enrollment certificate is made now rather than at the first hello, which would otherwise
                // wait for it. A failure here is retried (and answered) at that hello.
                if let credentials = try? await identity.credentials(), let explain = self.explainReporter {
                    let certificate = credentials.certificate
                    explain(
                        .root,
                        "CUHK's enrollment certificate for \(EnrollmentChannel.authorityName) issued by the root: serial "
                            + "\(certificate.serialNumber.hex), ECDSA P-256, valid until "
                            + "\(certificate.notValidAfter.formatted(.iso8601))")
                    explain(.root, "    · SHA-256 fingerprint \(certificate.sha256Fingerprint)")
                }
            }
            let server = server
            let enrollmentBound = enrollmentBound
            group.addTask {
                // The server settles its address as soon as it runs, bound or not.
                if let address = try? await server.listeningAddress() { enrollmentBound.settle(.success(address)) }
            }
        }
    }

    /// Ends every open connection now with `shutting-down`.
    public func endConnectionsNow() {
        server.endConnectionsNow()
    }
}
