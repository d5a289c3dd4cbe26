import CampusAdmin
import CampusPKI
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import _CryptoExtras

/// CUHK as a running service: the root (step 0), its store, the enrollment server (step 2), the OCSP responder and
/// the web interface, each on its own port.
///
/// The `cuhk` executable, the demo and the tests all start CUHK through this type.
public final class CUHKServer: FramedService, Sendable {
    /// Everything `cuhk serve` can be told.
    public struct Configuration: Sendable {
        /// The directory of `cuhk.key` and `cuhk.cer` (and `cuhk.db`, when the store is SQLite).
        public var directory: String
        /// Whether step 0 creates a root when there is none. A CUHK that shares a database with others never does
        /// (`cuhk init` makes the root once; a second root would be a second CA): it stops and says what to run.
        public var createsRoot: Bool
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
        /// How many connections one address (an IPv6 /64) may have at once (`--max-connections-per-address`);
        /// 0: no limit.
        public var maximumConnectionsPerAddress = CUHKServer.defaultConnectionsPerAddress
        /// How long connections in flight may go on after a graceful shutdown begins.
        public var shutdownGrace: TimeAmount
        /// The OCSP responder's port on ``host`` (0 picks a free port); `nil` runs no responder, and certificates
        /// then carry no responder URL.
        public var ocspPort: Int?
        /// The responder's URL written in certificates, when it differs from ``publicURL`` (a proxy's path);
        /// otherwise ``publicURL``, or `http://HOST:OCSPPORT/` with the host of ``PublicAddress`` and the bound port.
        public var ocspURL: String?
        /// The base URL by which students and Blackboard reach CUHK's HTTP port (`--public-url`); its host is also
        /// the one the code slips give for enrollment. When `nil`, ``host``, or this machine's host name when
        /// ``host`` is a wildcard (see ``PublicAddress``).
        public var publicURL: String?
        /// Blackboard's address as students give it to `student --blackboard` (`HOST:PORT`), for the code slips;
        /// recorded in `cuhk.db` so that `cuhk codes issue --slips` finds it.
        public var blackboardAddress: String?
        /// Whether CUHK issues Blackboard's certificate into ``directory`` when no certificate for the name is
        /// recorded and neither file exists (``ServiceCertificateBesideRoot``), once the responder's URL is known.
        public var issuesBlackboardCertificate: Bool
        /// Whether a Blackboard certificate beside the root that names another responder is moved aside and replaced,
        /// and one is issued there even when another is recorded (`campus-demo --dir`, whose CUHK takes a new free
        /// port each run, in a directory of its own).
        public var replacesStaleBlackboardCertificate: Bool
        /// How long an OCSP response may be relied on.
        public var ocspValidity: TimeInterval
        /// The web interface's port on ``adminHost`` (0 picks a free port); `nil` runs no web interface.
        /// `cuhk serve` uses ``CUHKServer/defaultAdminPort``.
        public var adminPort: Int?
        /// Where the web interface listens: loopback unless told otherwise.
        public var adminHost: String
        /// Timeouts, sizes and the connection cap of each HTTP port (the OCSP responder, the web interface).
        public var httpLimits: HTTPLimits
        /// Show each enrollment's public values (key shares, fingerprints, the transcript hash) under its lines.
        public var explain: Bool
        /// The load balancers whose connections begin with a PROXY protocol header naming the student
        /// (`--proxy-protocol-from`): the wrong-code throttle and the log then see the student's address.
        public var proxyProtocolPeers: ProxyProtocol.TrustedPeers = .none

        public init(
            directory: String = ".",
            createsRoot: Bool = true,
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
            httpLimits: HTTPLimits = .init(),
            publicURL: String? = nil,
            blackboardAddress: String? = nil,
            issuesBlackboardCertificate: Bool = false,
            replacesStaleBlackboardCertificate: Bool = false,
            explain: Bool = false
        ) {
            self.replacesStaleBlackboardCertificate = replacesStaleBlackboardCertificate
            self.publicURL = publicURL
            self.blackboardAddress = blackboardAddress
            self.issuesBlackboardCertificate = issuesBlackboardCertificate
            self.directory = directory
            self.createsRoot = createsRoot
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
            self.httpLimits = httpLimits
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
                maximumUnprovenPerAddress: maximumConnectionsPerAddress,
                shutdownGrace: shutdownGrace,
                proxyProtocolPeers: proxyProtocolPeers
            )
        }
    }

    /// The most connections CUHK serves at once by default; enrollments are short.
    public static let defaultMaximumConnections = 1024
    /// The most connections one address may have at once, by default: an eighth of the default cap.
    public static let defaultConnectionsPerAddress = 128
    /// 9337, after the OCSP responder's 9336: `cuhk serve --admin-port`'s default.
    public static let defaultAdminPort = 9337

    /// The issuing authority, with the OCSP responder's URL once it is known.
    public var authority: CertificateAuthority {
        Self.authority(baseAuthority, ocsp: ocsp, publicAddress: publicAddress, boundAt: ocsp?.bound.current)
    }
    /// The name students and Blackboard reach CUHK by (never a wildcard address).
    public let publicAddress: PublicAddress
    /// CUHK's store: `cuhk.db`, or a PostgreSQL database shared with other instances.
    public let registry: any AuthorityStore
    /// Settled once Blackboard's certificate beside the root is dealt with (or at once, when CUHK does not issue it).
    private let blackboardCertificateDone = BoundAddress()
    private let issuesBlackboardCertificate: Bool
    private let replacesStaleBlackboardCertificate: Bool
    private let reporter: StepReporter
    private let logger: Logger
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

    /// Loads or creates the root and prepares the listener.
    ///
    /// - Parameters:
    ///   - configuration: Directory, address, limits.
    ///   - store: CUHK's store, open (``CampusStorage`` opens the one the configuration names).
    ///   - listener: The port, bound already with ``listen(configuration:logger:)``; when `nil`, ``run()`` binds it.
    ///   - logger: Operational log; never receives keys.
    ///   - reporter: Receives the lines to show in the terminal, by seed step.
    ///   - checkpoint: Called after each step of a new root's creation (crash tests stop there).
    /// - Throws: ``RootAuthority/LoadError``, ``FileError``, ``MissingRoot`` when there is no root and
    ///   ``Configuration/createsRoot`` is off, the store's error, or ``PublicAddress/Failure`` when no address clients
    ///   can reach can be found.
    public init(
        configuration: Configuration,
        store registry: any AuthorityStore,
        listener: FramedServer.Listener? = nil,
        logger: Logger,
        reporter: @escaping StepReporter = { _, _ in },
        checkpoint: (RootAuthority.CreationStep) throws -> Void = { _ in }
    ) async throws {
        // Before step 0: a CUHK that cannot name itself to its clients must not make a root first.
        let publicAddress = try PublicAddress.choose(listeningHost: configuration.host, url: configuration.publicURL)
        if let ocspURL = configuration.ocspURL { try PublicAddress.check(url: ocspURL, option: "--ocsp-url") }
        let rootConfiguration = RootAuthority.Configuration(
            directory: configuration.directory, keySize: configuration.rootKeySize,
            allowInsecureKeyPermissions: configuration.allowInsecureKeyPermissions)
        if !configuration.createsRoot, !SecureFile.exists(rootConfiguration.certificatePath),
            !SecureFile.exists(rootConfiguration.keyPath)
        {
            throw MissingRoot(directory: configuration.directory, store: registry.location)
        }
        let (root, origin) = try RootAuthority.load(or: rootConfiguration, checkpoint: checkpoint)
        // CUHK's timestamp authority: its own key and certificate beside the root, issued when there are none.
        let (timestampAuthority, timestampOrigin) = try await TimestampAuthorityCertificate.loadOrIssue(
            .init(
                directory: configuration.directory,
                allowInsecureKeyPermissions: configuration.allowInsecureKeyPermissions),
            root: root, registry: registry)
        let metrics = ServerMetrics()
        let events = AuthorityMetrics(metrics: metrics).sink
        var issuing = configuration.issuing
        issuing.ocspURL = configuration.ocspURL ?? configuration.publicURL ?? issuing.ocspURL
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
        self.publicAddress = publicAddress
        self.registry = registry
        self.issuesBlackboardCertificate = configuration.issuesBlackboardCertificate
        self.replacesStaleBlackboardCertificate = configuration.replacesStaleBlackboardCertificate
        self.reporter = reporter
        self.logger = logger
        self.directory = configuration.directory
        let ocsp = configuration.ocspPort.map { port in
            OCSPHTTPServer(
                configuration: .init(host: configuration.host, port: port, limits: configuration.httpLimits),
                responder: OCSPResponder(
                    root: root, registry: registry, configuration: .init(validity: configuration.ocspValidity),
                    events: events),
                logger: logger,
                timestamps: TimestampService(authority: timestampAuthority, registry: registry, events: events))
        }
        self.ocsp = ocsp
        let enrollmentBound = BoundAddress()
        self.enrollmentBound = enrollmentBound
        if let blackboardAddress = configuration.blackboardAddress {
            try await registry.recordSetting(EnrollmentInstructions.blackboardSetting, blackboardAddress)
        }
        self.admin = try configuration.adminPort.map { port in
            let dashboard = CUHKDashboard(
                registry: registry, root: root, directory: configuration.directory,
                enrollmentAddress: {
                    publicAddress.hostAndPort(enrollmentBound.current?.port ?? configuration.port)
                },
                blackboardAddress: configuration.blackboardAddress,
                throttle: throttle?.configuration ?? EnrollmentThrottle.Configuration())
            return try AdminServer(
                configuration: .init(
                    host: configuration.adminHost, port: port,
                    tokenPath: SecureFile.join(configuration.directory, AdminToken.fileName(for: "cuhk")),
                    limits: configuration.httpLimits),
                pages: try dashboard.pages(), metrics: metrics, logger: logger, sessionStore: registry,
                readiness: {
                    // CUHK is not ready while Blackboard cannot learn whether a certificate is revoked.
                    let problems = await dashboard.readiness()
                    return problems + (await ocsp?.readiness() ?? [])
                },
                routes: { dashboard.routes($0, $1) })
        }
        let fingerprint = root.certificate.sha256Fingerprint
        switch origin {
        case .created:
            reporter(.root, "Root key and certificate generated: \(configuration.directory)/cuhk.key (0600), cuhk.cer")
        case .loaded:
            reporter(.root, "Root loaded from \(configuration.directory)/cuhk.cer (\(root.certificate.subject))")
        }
        reporter(.root, "Root SHA-256 fingerprint \(fingerprint)")
        if timestampOrigin == .issued {
            reporter(
                .root,
                "Timestamp authority certificate issued: \(configuration.directory)/"
                    + "\(TimestampAuthorityCertificate.keyFileName) (0600), \(TimestampAuthorityCertificate.certificateFileName)"
            )
        }
        if let warning = timestampAuthority.validityWarning() {
            reporter(.root, "WARNING: \(warning)")
            logger.warning("\(warning)")
        }
        if configuration.explain {
            let bits = _RSA.Signing.PublicKey(root.certificate.publicKey)?.keySizeInBits ?? 0
            reporter(
                .root,
                "    · root serial \(root.certificate.serialNumber.hex), RSA \(bits) bits, valid until "
                    + "\(root.certificate.notValidAfter.formatted(.iso8601)); students pin it, or check this "
                    + "fingerprint with --root-fingerprint")
        }
        self.explainReporter = configuration.explain ? reporter : nil
        try await registry.recordEnrollmentPolicy(configuration.enrollment)
        switch configuration.enrollment {
        case .open:
            reporter(.request, "WARNING: open enrollment: anyone may get a certificate for any 10-digit SID")
            logger.warning("open enrollment: anyone may enroll any SID (--open-enrollment)")
        case .roster:
            if try await registry.rosterCount() == 0 {
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
                authority, ocsp: ocsp, publicAddress: publicAddress, boundAt: ocsp?.bound.value())
            try await EnrollmentHandler(authority: issuing, identity: identity, observer: observer)
                .serve(frames, logger: logger)
        }
    }

    /// The name of Blackboard's certificate CUHK issues beside its root.
    public static let blackboardName = "blackboard"

    /// Issues Blackboard's certificate into CUHK's directory (`blackboard.key`, 0600, and `blackboard.cer`) when no
    /// certificate for `blackboard` is recorded and neither file exists, as it writes `cuhk.cer` there: in the seed's
    /// single directory Blackboard finds both. It finishes an issuing a crash interrupted (see
    /// ``ServiceCertificateBesideRoot``). ``run()`` calls it once the responder's URL is known when
    /// ``Configuration/issuesBlackboardCertificate`` is set.
    ///
    /// - Returns: What came of it.
    @discardableResult
    public func issueBlackboardCertificateBesideRoot(
        checkpoint: (ServiceCertificateBesideRoot.Step) throws -> Void = { _ in }
    ) async throws -> ServiceCertificateBesideRoot.Outcome {
        let name = Self.blackboardName
        if replacesStaleBlackboardCertificate,
            let serial = try ServiceCertificateBesideRoot.retireIfItNamesAnotherResponder(
                name: name, in: directory, ocspURL: authority.configuration.ocspURL)
        {
            reporter(
                .root,
                "Blackboard's certificate \(serial) names another OCSP responder than this CUHK's; moved aside "
                    + "(blackboard.key.<time>.old), a new one follows")
        }
        let outcome = try await ServiceCertificateBesideRoot.ensure(
            name: name, in: directory, root: baseAuthority.root, registry: registry,
            ocspURL: authority.configuration.ocspURL, evenIfRecorded: replacesStaleBlackboardCertificate,
            checkpoint: checkpoint)
        Self.report(outcome, name: name, directory: directory, reporter: reporter, logger: logger)
        return outcome
    }

    /// Tells the terminal (step 0) what came of Blackboard's certificate beside the root.
    public static func report(
        _ outcome: ServiceCertificateBesideRoot.Outcome, name: String, directory: String, reporter: StepReporter,
        logger: Logger
    ) {
        let files =
            "\(ServiceCertificate.keyPath(name: name, in: directory)) (0600), "
            + ServiceCertificate.certificatePath(name: name, in: directory)
        switch outcome {
        case .issued(let serial):
            reporter(.root, "Blackboard's certificate issued for \(name), serial \(serial): \(files)")
        case .finished(let serial):
            reporter(
                .root,
                "Blackboard's certificate for \(name), serial \(serial), finished after an interruption: \(files)")
        case .present:
            break
        case .recordedElsewhere(let serial):
            logger.info(
                "Blackboard's certificate is recorded but not beside the root; none issued",
                metadata: ["name": "\(name)", "serial": "\(serial)"])
        case .onlyOneFile(let present, let missing):
            reporter(
                .root,
                "WARNING: \(present) exists but \(missing) does not, so Blackboard cannot use them; move \(present) "
                    + "away for a new pair, or issue one with cuhk service issue")
        }
    }

    /// `authority` with the responder's URL: the configured one, or `http://HOST:PORT/` with the public host once the
    /// port is bound.
    static func authority(
        _ authority: CertificateAuthority, ocsp: OCSPHTTPServer?, publicAddress: PublicAddress,
        boundAt address: SocketAddress?
    ) -> CertificateAuthority {
        guard authority.configuration.ocspURL == nil, ocsp != nil, let port = address?.port else { return authority }
        var authority = authority
        authority.configuration.ocspURL = publicAddress.responderURL(port: port)
        return authority
    }

    /// The enrollment server's bound address, once it, the OCSP responder and the web interface all listen, and
    /// Blackboard's certificate beside the root is written (when CUHK issues it).
    public func listeningAddress() async throws -> SocketAddress {
        _ = try await ocsp?.bound.value()
        _ = try await admin?.bound.value()
        _ = try await blackboardCertificateDone.value()
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
            group.addTask {
                do {
                    let address = try await server.listeningAddress()
                    // Where students enroll, for `cuhk codes issue --slips` in another process.
                    try await self.registry.recordSetting(
                        EnrollmentInstructions.certificateAuthoritySetting,
                        self.publicAddress.hostAndPort(address.port ?? 0))
                    _ = try await self.ocsp?.bound.value()
                    if let url = self.authority.configuration.ocspURL {
                        try await self.registry.recordSetting(OCSPResponder.urlSetting, url)
                    }
                    if self.issuesBlackboardCertificate {
                        // Its certificate names the responder too, so it waited for the responder's port.
                        do {
                            try await self.issueBlackboardCertificateBesideRoot()
                        } catch {
                            throw CampusError(
                                .issuanceFailed, "Blackboard's certificate could not be issued beside the root",
                                cause: error)
                        }
                    }
                    self.blackboardCertificateDone.settle(.success(address))
                } catch {
                    self.blackboardCertificateDone.settle(.failure(error))
                    throw error
                }
            }
        }
    }

    /// Ends every open connection now with `shutting-down`.
    public func endConnectionsNow() {
        server.endConnectionsNow()
    }
}

/// A CUHK that may not create a root found none: on a shared database the root is made once, by `cuhk init`.
public struct MissingRoot: Error, Sendable, CustomStringConvertible {
    public var directory: String
    /// Where CUHK's records are, without a password.
    public var store: String

    public var description: String {
        "there is no root in \(directory) (no \(RootAuthority.certificateFileName), no \(RootAuthority.keyFileName)); "
            + "a CUHK on a shared database never creates one: run cuhk init --dir \(directory) --database URL once, "
            + "then give every instance a copy of the directory's files"
    }
}
